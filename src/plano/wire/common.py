"""Helpers the wire modules share (pure): type checks that name the parameter, data URLs,
tool-choice forms and tool-call arguments as objects."""

from __future__ import annotations

from typing import Any, Literal

import orjson

from plano.core.model import Message, ToolChoice
from plano.errors import InvalidRequest

__all__ = [
    "arguments_object",
    "bad",
    "call_names",
    "data_url",
    "forced_tool",
    "opt",
    "opt_list",
    "tool_mode",
    "typename",
]


def bad(msg: str, param: str) -> InvalidRequest:
    """A 400 that names the offending parameter."""
    return InvalidRequest(msg, param=param, code="invalid_type")


def typename(v: object) -> str:
    """The JSON type name of a parsed value, for error messages."""
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(v), "null" if v is None else "number"
    )


def opt(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``body[key]`` when present and of ``kind``; ``None`` when absent; else a 400."""
    v = body.get(key)
    if v is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass: reject it where a number is expected.
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
        raise bad(f"Invalid type for '{key}': expected {what}, got {typename(v)}.", key)
    return v


def opt_list(body: dict[str, Any], key: str) -> list[Any]:
    """An optional array parameter (empty when absent)."""
    v = opt(body, key, list, "an array")
    return v if v is not None else []


def data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a ``data:<media>;base64,<data>`` URL, else ``None``."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def forced_tool(choice: ToolChoice | None) -> str | None:
    """The tool a tool choice forces, whatever shape wrote it: ``{"name": n}``,
    ``{"type": "function", "name": n}`` or ``{"type": "function", "function": {"name": n}}``."""
    if not isinstance(choice, dict):
        return None
    fn = choice.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return str(fn["name"])
    name = choice.get("name")
    return name if isinstance(name, str) else None


def tool_mode(choice: ToolChoice | None) -> Literal["auto", "none", "required"] | None:
    """``auto``/``none``/``required`` for a string choice (a forced tool counts as required)."""
    if choice in ("auto", "none", "required"):
        return choice  # type: ignore[return-value]
    if forced_tool(choice) is not None:
        return "required"
    return None


def arguments_object(text: str, where: str) -> dict[str, Any]:
    """Tool-call arguments (JSON text) as an object, for families that need one. Empty text is
    ``{}``; anything else that is not a JSON object is a 400 rather than a guess."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"'{where}' must be a JSON object: the upstream needs tool arguments as an object.",
            param=where,
            code="invalid_value",
        )
    return value


def call_names(messages: list[Message]) -> dict[str, str]:
    """Tool-call id -> tool name over a conversation, to name tool results for families that
    match results by name (Gemini)."""
    return {c.id: c.name for m in messages for c in m.tool_calls if c.id}
