"""Redaction inside JSON: tool-call arguments (JSON text written by a model) and a client's
own request body (parsed), each string's value handed to a function that may rewrite it.

The text stays valid JSON whatever the function does: a changed string is written back as a
JSON string, and an integer long enough to be a card number becomes one when it changes. In a
client's body, what is not text is never touched: ids, signatures of thinking blocks (a
changed block fails its signature), encrypted reasoning, base64 data. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["BODY_KEYS", "walk_json", "walk_json_text"]

#: Keys of a client's body whose values are never text to redact: ids, signatures of
#: thinking blocks, encrypted reasoning, cache markers, inline files (base64).
_SKIP_KEYS = frozenset(
    (
        "id call_id tool_call_id tool_use_id signature encrypted_content cache_control type "
        "role model media_type file_id file_data format"
    ).split()
)
#: Blocks and items carried as they are: a changed thinking block fails its signature.
_SKIP_TYPES = frozenset(("thinking", "redacted_thinking", "reasoning"))
#: Message-bearing keys of the three client bodies (Anthropic, OpenAI chat, Responses).
BODY_KEYS = ("system", "messages", "instructions", "input")
#: Integers this long may be card numbers written as JSON numbers.
_LONG_INT = 10**11


def walk_json(value: Any, text: Callable[[str], str], *, body: bool = False) -> Any:
    """``value`` (parsed JSON) with ``text`` applied to every string, and to integers of 12
    digits or more (which become strings when ``text`` changes them). Containers are copied
    only where something changed, so ``value`` itself is never modified. ``body``: a
    client's request body (ids, signatures, base64 data and thinking blocks skipped)."""
    if isinstance(value, str):
        return value if body and value.startswith("data:") else _changed(value, text(value))
    if isinstance(value, dict):
        kind = value.get("type") if body else None
        if kind in _SKIP_TYPES:
            return value
        out: dict[str, Any] | None = None
        for k, v in value.items():
            if body and (k in _SKIP_KEYS or (k == "data" and kind != "text")):
                continue
            if body and k == "arguments" and isinstance(v, str):
                new = walk_json_text(v, text)
            else:  # a tool call's input is the model's own JSON, nothing skipped
                new = walk_json(v, text, body=body and not (k == "input" and kind == "tool_use"))
            if new is not v:
                out = out if out is not None else dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [walk_json(v, text, body=body) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if type(value) is int and abs(value) >= _LONG_INT:
        digits = str(value)
        new = text(digits)
        return value if new == digits else new
    return value


def _changed(old: str, new: str) -> str:
    return old if new is old or new == old else new


#: A JSON string literal (or an unterminated one at the end), or an integer of 12+ digits.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)|(?<![0-9.\-])-?[0-9]{12,}(?![0-9.eE])')


def walk_json_text(
    raw: str, text: Callable[[str], str], fallback: Callable[[str], str] | None = None
) -> str:
    """JSON text (tool-call arguments) with ``text`` applied to each string's value and to
    each integer of 12 digits or more, as :func:`walk_json` does; every other character is
    kept (the model's formatting included). A changed value is written back as a JSON
    string, so the text stays valid JSON. A string that does not decode (cut off, a bad
    escape) goes to ``fallback`` as it is written (default: left alone)."""
    pieces: list[str] = []
    at = 0
    for m in _JSON_TOKEN.finditer(raw):
        token = m.group()
        if token[0] == '"':
            try:
                value = orjson.loads(token)
            except orjson.JSONDecodeError:
                new = fallback(token) if fallback is not None else token
                if new == token:
                    continue
                pieces += (raw[at : m.start()], new)
                at = m.end()
                continue
        else:
            value = token
        new = text(value)
        if new == value:
            continue
        pieces += (raw[at : m.start()], orjson.dumps(new).decode())
        at = m.end()
    if not pieces:
        return raw
    pieces.append(raw[at:])
    return "".join(pieces)
