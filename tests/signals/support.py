"""Scripted conversations in the canonical model."""

from __future__ import annotations

import json
from typing import Any

from plano.core.model import ChatRequest, Message, TextPart, Tool, ToolCall


def user(text: str) -> Message:
    return Message("user", [TextPart(text)])


def bot(text: str) -> Message:
    return Message("assistant", [TextPart(text)])


def system(text: str) -> Message:
    return Message("system", [TextPart(text)])


def call(name: str, args: dict[str, Any] | str, call_id: str = "c") -> Message:
    text = args if isinstance(args, str) else json.dumps(args)
    return Message("assistant", [], [ToolCall(call_id, name, text)])


def result(text: str, call_id: str = "c", is_error: bool = False) -> Message:
    return Message("tool", [TextPart(text)], tool_call_id=call_id, is_error=is_error)


def chat(*messages: Message, tools: tuple[str, ...] = ()) -> ChatRequest:
    return ChatRequest("gpt-4o", list(messages), tools=[Tool(t) for t in tools])
