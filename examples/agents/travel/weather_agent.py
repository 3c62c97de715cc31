"""The travel example's weather agent: streams its answer, written by Plano's model listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from plano.sdk import AgentService, Turn, llm

SYSTEM = "You are a weather agent. Give the forecast for the user's destination."


async def answer(messages: list[dict[str, Any]], turn: Turn) -> AsyncIterator[str]:
    stream = await llm().chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM}, *messages],
        stream=True,
    )
    yield "[weather] "
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


if __name__ == "__main__":
    AgentService(answer, name="weather_agent").run()
