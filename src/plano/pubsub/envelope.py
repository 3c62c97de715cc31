"""Messages as subscribers see them: one JSON envelope, framed as an SSE event or POSTed to
an agent. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from plano.store.protocols import Message

__all__ = [
    "HEADERS_KEPT",
    "MAX_TOPIC_LENGTH",
    "envelope",
    "publish_headers",
    "sse_event",
    "valid_topic",
]

#: Request headers a publish keeps on the message (the rest are the publisher's business).
HEADERS_KEPT = ("content-type", "traceparent", "x-request-id", "x-plano-session-id")
MAX_TOPIC_LENGTH = 200
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


def valid_topic(topic: str) -> bool:
    """Letters, digits, ``._-:``; at most :data:`MAX_TOPIC_LENGTH` characters."""
    return 0 < len(topic) <= MAX_TOPIC_LENGTH and all(c in _TOPIC_CHARS for c in topic)


def publish_headers(headers: Mapping[str, str], publisher: str) -> dict[str, str]:
    kept = {name: headers[name] for name in HEADERS_KEPT if name in headers}
    kept["publisher"] = publisher
    return kept


def _data(msg: Message) -> Any:
    if msg.headers.get("content-type", "").startswith("application/json"):
        try:
            return orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            pass
    return msg.payload.decode(errors="replace")


def envelope(msg: Message) -> dict[str, Any]:
    """``{"id", "topic", "data", "deliveries", "publisher", "headers"}``: ``data`` is the
    published JSON value (for a JSON body) or its text."""
    return {
        "id": msg.id,
        "topic": msg.topic,
        "data": _data(msg),
        "deliveries": msg.deliveries,
        "publisher": msg.headers.get("publisher"),
        "headers": dict(msg.headers),
    }


def sse_event(msg: Message) -> bytes:
    """One SSE event: ``id`` (what ``Last-Event-ID`` resumes after), ``event: message``."""
    return b"id: %s\nevent: message\ndata: %s\n\n" % (
        msg.id.encode(),
        orjson.dumps(envelope(msg)),
    )
