"""Publishes "booking confirmed" on topic ``bookings`` for every booking request it answers."""

from __future__ import annotations

from typing import Any

from plano.sdk import AgentService, Turn, publish

BOOKINGS = "bookings"


async def answer(messages: list[dict[str, Any]], turn: Turn) -> str:
    request = str(messages[-1].get("content", ""))
    event = {"status": "booking confirmed", "request": request, "session": turn.session_id}
    msg_id = await publish(BOOKINGS, event)
    return f"Booked: {request} (event {msg_id})"


if __name__ == "__main__":
    AgentService(answer, name="booking_agent").run()
