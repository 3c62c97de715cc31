"""Gemini streams (``alt=sse``) decoded to canonical events, on the recorded streams."""

from __future__ import annotations

import orjson
from tests.wire.conftest import decode_all, sse

from plano.core.model import StreamEnd, TextDelta, ThinkingDelta, ToolCallDelta, Usage, UsageEvent
from plano.wire.gemini_stream import StreamDecoder


def test_stream_text() -> None:
    dec = StreamDecoder()
    events = decode_all(dec, sse("gemini", "stream.sse"))
    assert dec.done
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == (
        "The sky is blue because of Rayleigh scattering."
    )
    assert events[-2:] == [
        StreamEnd("stop"),
        UsageEvent(
            Usage(input_tokens=10, output_tokens=33, cache_read_tokens=4, reasoning_tokens=24)
        ),
    ]


def test_stream_function_calls_whole() -> None:
    events = decode_all(StreamDecoder(), sse("gemini", "stream_function_call.sse"))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.tool_index, c.name, orjson.loads(c.arguments)) for c in calls] == [
        (0, "get_weather", {"location": "Paris"}),
        (1, "get_weather", {"location": "Rome"}),
    ]
    assert all(c.id and c.id.startswith("call_") for c in calls)
    signatures = [e.signature for e in events if isinstance(e, ThinkingDelta)]
    assert signatures == ["CiQBsigPARIS"]
    assert StreamEnd("tool_calls") in events


def test_stream_cut_before_finish_is_not_done() -> None:
    dec = StreamDecoder()
    decode_all(dec, sse("gemini", "stream.sse")[:2])
    assert not dec.done
