"""plano.wire.openai_chat_stream: stream decoding and chunk rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from plano.core.model import (
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.core.sse import SSEParser
from plano.errors import UpstreamProtocolError
from plano.wire import openai_chat_answer as oca
from plano.wire import openai_chat_stream as ocs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"


# ---------------------------------------------------------------- StreamDecoder


def _decode_sse(wire: bytes) -> tuple[list[StreamEvent], ocs.StreamDecoder]:
    parser = SSEParser()
    dec = ocs.StreamDecoder()
    events: list[StreamEvent] = []
    for sse in [*parser.feed(wire), *parser.flush()]:
        events.extend(dec.feed(sse.data, sse.event))
    return events, dec


def test_decode_fixture_tool_call_stream() -> None:
    events, dec = _decode_sse((FIXTURES / "chat_completion_tool_calls_stream.sse").read_bytes())
    assert dec.done
    assert events[0] == StreamStart("chatcmpl-BNcFjXwJ2o1kQvE3ZyXq8Tn4LmP0r", "gpt-4o-2024-08-06")
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    firsts = [c for c in calls if c.id is not None]
    assert [(c.tool_index, c.id, c.name) for c in firsts] == [
        (0, "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"),
        (1, "call_ABZ5ySRl4PqW0tHnK4cDrmVt", "get_weather"),
    ]
    args: dict[int, str] = {}
    for c in calls:
        args[c.tool_index] = args.get(c.tool_index, "") + c.arguments
    assert {i: orjson.loads(a) for i, a in args.items()} == {
        0: {"location": "Paris, France"},
        1: {"location": "Bogotá, Colombia"},
    }
    assert not any(isinstance(e, TextDelta) for e in events)
    ends = [e for e in events if isinstance(e, StreamEnd)]
    assert ends == [StreamEnd("tool_calls", 0)]
    (usage,) = [e for e in events if isinstance(e, UsageEvent)]
    assert usage.usage == Usage(input_tokens=82, output_tokens=54)
    # usage comes after the finish, as OpenAI sends it.
    assert events.index(usage) > events.index(ends[0])


def test_stream_decoder_role_chunk_content_finish_and_done() -> None:
    dec = ocs.StreamDecoder()
    first = dec.feed(
        '{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'
    )
    assert first == [StreamStart("c1", "m")]
    assert dec.started
    assert dec.feed('{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}') == [
        TextDelta("Hel", 0)
    ]
    assert dec.feed('{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}') == [
        StreamEnd("length", 0)
    ]
    assert not dec.done
    assert dec.feed("[DONE]") == []
    assert dec.done


def test_stream_decoder_reasoning_and_unknown_finish() -> None:
    dec = ocs.StreamDecoder()
    evs = dec.feed(
        '{"choices":[{"index":1,"delta":{"reasoning_content":"hm","content":"ok"},'
        '"finish_reason":"weird"}]}'
    )
    assert evs == [
        StreamStart("", ""),
        ThinkingDelta("hm", index=1),
        TextDelta("ok", 1),
        StreamEnd("stop", 1),
    ]


def test_stream_decoder_usage_only_chunk() -> None:
    dec = ocs.StreamDecoder()
    dec.feed('{"id":"c","choices":[{"delta":{"content":"x"}}]}')
    evs = dec.feed(
        '{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,'
        '"prompt_tokens_details":{"cached_tokens":2}}}'
    )
    assert evs == [UsageEvent(Usage(input_tokens=5, output_tokens=3, cache_read_tokens=2))]


def test_stream_decoder_error_chunk() -> None:
    dec = ocs.StreamDecoder()
    evs = dec.feed('{"error":{"message":"The server had an error","type":"server_error"}}')
    assert evs == [StreamError("The server had an error")]
    assert dec.feed('{"error":"boom"}') == [StreamError("upstream stream error")]
    assert not dec.done


@pytest.mark.parametrize("data", ["not json", "{", "[1,2]", '"text"', "42", ""])
def test_stream_decoder_garbage_raises_protocol_error(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        ocs.StreamDecoder().feed(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"choices":[1]}',
        '{"choices":"abc"}',
        '{"choices":[{"delta":"x"}]}',
        '{"choices":[{"delta":{"tool_calls":["x"]}}]}',
        '{"usage":{"prompt_tokens":"many"}}',
    ],
)
def test_stream_decoder_wrong_structure_raises_protocol_error(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        ocs.StreamDecoder().feed(data)


# ---------------------------------------------------------------- ChunkRenderer


def _round_trip(events: list[StreamEvent], *, include_usage: bool) -> list[StreamEvent]:
    r = ocs.ChunkRenderer("claude-x", include_usage=include_usage, created=123)
    wire = b"".join(r.render(e) for e in events) + r.done()
    got, dec = _decode_sse(wire)
    assert dec.done
    return got


def test_chunk_renderer_round_trip() -> None:
    events: list[StreamEvent] = [
        StreamStart("msg_1", "claude-x"),
        ThinkingDelta("let me think"),
        TextDelta("Hel"),
        TextDelta("lo", 1),
        ToolCallDelta(0, "toolu_1", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"location":'),
        ToolCallDelta(0, None, None, '"Paris"}'),
        ToolCallDelta(1, "toolu_2", "get_time", "{}"),
        StreamEnd("tool_calls"),
        StreamEnd("length", 1),
        UsageEvent(
            Usage(input_tokens=10, output_tokens=4, cache_read_tokens=3, reasoning_tokens=2)
        ),
    ]
    assert _round_trip(events, include_usage=True) == events


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter"])
def test_chunk_renderer_finish_reasons_round_trip(reason: Any) -> None:
    events: list[StreamEvent] = [StreamStart("i", "claude-x"), StreamEnd(reason)]
    assert _round_trip(events, include_usage=False) == events


def test_chunk_renderer_drops_usage_unless_asked() -> None:
    events: list[StreamEvent] = [
        StreamStart("msg_1", "claude-x"),
        TextDelta("x"),
        UsageEvent(Usage(1, 1)),
    ]
    assert _round_trip(events, include_usage=False) == events[:2]


def test_chunk_renderer_chunk_shape() -> None:
    r = ocs.ChunkRenderer("claude-x", include_usage=True, created=123)
    start = r.render(StreamStart("msg_1", "ignored"))
    assert start.startswith(b"data: ") and start.endswith(b"\n\n")
    body = orjson.loads(start[6:])
    assert body == {
        "id": "msg_1",
        "object": "chat.completion.chunk",
        "created": 123,
        "model": "claude-x",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    }
    # Later chunks reuse the id from StreamStart.
    assert orjson.loads(r.render(TextDelta("a"))[6:])["id"] == "msg_1"
    usage = orjson.loads(r.render(UsageEvent(Usage(5, 2)))[6:])
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] == 7
    assert r.render(ThinkingDelta("", signature="sig")) == b""
    assert r.done() == b"data: [DONE]\n\n"


def test_chunk_renderer_stream_error_is_an_in_band_error_event() -> None:
    r = ocs.ChunkRenderer("m", include_usage=False)
    wire = r.render(StreamError("overloaded", 529, "overloaded_error"))
    assert orjson.loads(wire[6:]) == {
        "error": {"message": "overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    got, dec = _decode_sse(wire)
    assert got == [StreamError("overloaded")]
    assert not dec.done


def test_non_object_usage_details_are_ignored_not_fatal() -> None:
    # Some OpenAI-compatible servers send odd detail fields; the counts themselves still count.
    body = {"choices": [], "usage": {"prompt_tokens": 5, "prompt_tokens_details": ["x"]}}
    usage = oca.decode_response(body).usage
    assert usage is not None and usage.input_tokens == 5 and usage.cache_read_tokens == 0
