"""The travel example's flight agent: asks Plano's model listener (PLANO_URL) about flights
for the user's request, with the openai SDK through plano.sdk.llm()."""

from __future__ import annotations

from typing import Any

from plano.sdk import AgentService, Turn, llm

SYSTEM = "You are a flight agent. Suggest flights for the trip the user describes."


async def answer(messages: list[dict[str, Any]], turn: Turn) -> str:
    reply = await llm().chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM}, *messages],
    )
    return f"[flights] {reply.choices[0].message.content}"


if __name__ == "__main__":
    AgentService(answer, name="flight_agent").run()
