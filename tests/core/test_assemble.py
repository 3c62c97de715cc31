"""Rebuilding a whole answer from canonical stream events."""

from __future__ import annotations

from plano.core.assemble import StreamAssembler
from plano.core.model import (
    StreamEnd,
    StreamError,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)


def test_assembles_text_thinking_calls_and_usage() -> None:
    a = StreamAssembler()
    for ev in (
        StreamStart("id1", "m"),
        ThinkingDelta("hm"),
        ThinkingDelta("", "sig"),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallDelta(0, "c0", "f", '{"a"'),
        ToolCallDelta(1, "c1", "g", "{}"),
        ToolCallDelta(0, arguments=": 1}"),
        TextDelta("other choice", index=1),
        StreamEnd("tool_calls"),
        UsageEvent(Usage(3, 4)),
    ):
        a.feed(ev)
    assert a.complete
    resp = a.response()
    msg = resp.choices[0].message
    assert (resp.id, resp.model, resp.usage) == ("id1", "m", Usage(3, 4))
    assert msg.text() == "Hello"
    assert [(c.id, c.name, c.arguments) for c in msg.tool_calls] == [
        ("c0", "f", '{"a": 1}'),
        ("c1", "g", "{}"),
    ]
    assert msg.content[0].signature == "sig"  # type: ignore[union-attr]


def test_error_or_missing_end_is_incomplete() -> None:
    a = StreamAssembler()
    a.feed(TextDelta("x"))
    assert not a.complete
    a.feed(StreamEnd("stop"))
    a.feed(StreamError("boom"))
    assert not a.complete
