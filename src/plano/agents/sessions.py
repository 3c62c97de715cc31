"""Conversations Plano keeps per session, so a client may send only the new turn.

A session's messages are stored as one JSON value in the state layer's key-value store (the hot
store: this process's memory by default, Redis when ``state.hot`` names it) under
``agent-session:<id>``, with a TTL renewed by every turn. Size limits keep it bounded: past
``max_messages`` or ``max_bytes`` the oldest messages go first. Text only: images and tool
calls of earlier turns are not replayed (the agent has its own state for those).

The id comes from the session header (``x-plano-session-id`` unless configured); without it,
one is derived from the caller and the conversation's first user message, so a client that
resends the whole conversation lands in the same session each turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from plano.core.model import Message, TextPart
from plano.store.protocols import KeyValue

__all__ = [
    "SessionLimits",
    "SessionStore",
    "decode_messages",
    "derive_session_id",
    "encode_messages",
]

KEY_PREFIX = "agent-session:"
_MAX_ID = 128


@dataclass(frozen=True, slots=True)
class SessionLimits:
    ttl: float = 3600.0
    max_messages: int = 200
    max_bytes: int = 1024 * 1024


def usable_session_id(value: str | None) -> str | None:
    if value and len(value) <= _MAX_ID and value.isascii() and value.isprintable():
        return value
    return None


def derive_session_id(principal: str, messages: Sequence[Message]) -> str | None:
    """A stable id for a conversation the client resends whole: the caller and its first
    user message. ``None`` when there is no user message."""
    first = next((m.text() for m in messages if m.role == "user"), None)
    if not first:
        return None
    digest = hashlib.sha256(f"{principal}\x00{first}".encode()).hexdigest()
    return "derived-" + digest[:32]


def encode_messages(messages: Sequence[Message], limits: SessionLimits) -> bytes:
    """The stored form: ``[{"role", "content", "name"?}]``, the oldest dropped past the limits
    (at least the newest message is kept, cut to the byte limit)."""
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role in ("system", "developer", "tool"):
            continue
        text = m.text()
        if not text:
            continue
        item: dict[str, Any] = {"role": m.role, "content": text}
        if m.name:
            item["name"] = m.name
        items.append(item)
    items = items[-limits.max_messages :]
    data = orjson.dumps(items)
    while len(data) > limits.max_bytes and len(items) > 1:
        drop = max(1, len(items) // 8)  # drop in steps: no quadratic re-encoding
        items = items[drop:]
        data = orjson.dumps(items)
    if len(data) > limits.max_bytes and items:
        items[0]["content"] = items[0]["content"][-(limits.max_bytes // 2) :]
        data = orjson.dumps(items)
    return data


def decode_messages(data: bytes) -> list[Message]:
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    out: list[Message] = []
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, Mapping) and item.get("role") in ("user", "assistant"):
            name = item.get("name")
            out.append(
                Message(
                    item["role"],
                    [TextPart(str(item.get("content", "")))],
                    name=name if isinstance(name, str) else None,
                )
            )
    return out


class SessionStore:
    """Sessions in a :class:`KeyValue`; the store's failures propagate (the caller decides)."""

    def __init__(self, kv: KeyValue, limits: SessionLimits) -> None:
        self.kv = kv
        self.limits = limits

    async def load(self, session_id: str) -> list[Message]:
        data = await self.kv.get(KEY_PREFIX + session_id)
        return decode_messages(data) if data else []

    async def save(self, session_id: str, messages: Sequence[Message]) -> None:
        data = encode_messages(messages, self.limits)
        await self.kv.set(KEY_PREFIX + session_id, data, ttl=self.limits.ttl)

    async def raw(self, session_id: str) -> list[dict[str, Any]] | None:
        data = await self.kv.get(KEY_PREFIX + session_id)
        if data is None:
            return None
        value = orjson.loads(data)
        return value if isinstance(value, list) else []

    async def delete(self, session_id: str) -> bool:
        return await self.kv.delete(KEY_PREFIX + session_id)
