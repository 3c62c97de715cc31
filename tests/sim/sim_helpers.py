"""Small helpers shared by the simulator tests (imported as a plain module)."""

from __future__ import annotations

from typing import Any

import orjson

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a place",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["location"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"tz": {"type": "string", "enum": ["UTC", "CET"]}},
            },
        },
    },
]


def sse(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of every event in an SSE body (LF or CRLF line ends)."""
    text = raw.decode().replace("\r\n", "\n")
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            key, _, value = line.partition(": ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        events.append((name, "\n".join(data)))
    return events


def sse_json(raw: bytes) -> list[Any]:
    """The JSON data of every event, ``[DONE]`` left out."""
    return [orjson.loads(d) for _, d in sse(raw) if d != "[DONE]"]


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}
