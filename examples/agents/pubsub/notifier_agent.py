"""Reacts to ``bookings`` events Plano pushes to it (``subscriptions:`` in the config): it
keeps them and answers "what was booked?" from them. ``GET /received`` shows them (tests)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plano.sdk import AgentService, Event, Turn

received: list[dict[str, Any]] = []


async def answer(messages: list[dict[str, Any]], turn: Turn) -> str:
    if not received:
        return "Nothing booked yet."
    return "Notified of: " + "; ".join(str(e["data"]["request"]) for e in received)


service = AgentService(answer, name="notifier_agent")


@service.on("bookings")
async def on_booking(event: Event) -> None:
    # Push is at least once: the same message may come again; keep it once.
    if all(e["id"] != event.id for e in received):
        received.append({"id": event.id, "data": event.data, "deliveries": event.deliveries})


async def listing(_request: web.Request) -> web.Response:
    return web.json_response({"received": received})


if __name__ == "__main__":
    app = service.app()
    app.router.add_get("/received", listing)
    import os

    web.run_app(
        app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), print=None, access_log=None
    )
