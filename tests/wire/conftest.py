"""Fixture loading for the wire tests: recorded provider bodies and SSE streams."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from plano.core.model import ChatRequest, StreamEvent
from plano.core.sse import SSEEvent, SSEParser
from plano.errors import InvalidRequest
from plano.providers.codec import StreamDecoderLike

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(provider: str, name: str) -> Any:
    return orjson.loads((FIXTURES / provider / name).read_bytes())


def sse(provider: str, name: str) -> list[SSEEvent]:
    parser = SSEParser()
    events = parser.feed((FIXTURES / provider / name).read_bytes())
    return events + parser.flush()


def parse_sse(data: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(data) + parser.flush()


def decode_all(decoder: StreamDecoderLike, events: list[SSEEvent]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for ev in events:
        out += decoder.feed(ev.data, ev.event)
    return out


def refused(parse: Callable[[Any], ChatRequest], body: Any) -> InvalidRequest:
    """The 400 ``parse`` raises for ``body`` (fails the test when it accepts it)."""
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    return info.value


def deep(depth: int) -> Any:
    """A value nested ``depth`` objects deep."""
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value
