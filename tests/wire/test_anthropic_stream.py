"""Anthropic streams: the upstream decoder on recorded streams, the client renderer's event
sequence, and round trips (render, then decode again)."""

from __future__ import annotations

import orjson
import pytest
from tests.wire.conftest import decode_all, parse_sse, sse

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
from plano.errors import UpstreamProtocolError, UpstreamTimeout
from plano.wire import openai_chat_stream
from plano.wire.anthropic_stream import EventRenderer, StreamDecoder, stream_error


def _render(events: list[StreamEvent], model: str = "m") -> bytes:
    r = EventRenderer(model)
    return b"".join(r.render(e) for e in events) + r.done()


def test_decode_text_stream() -> None:
    dec = StreamDecoder()
    events = decode_all(dec, sse("anthropic", "stream_text.sse"))
    assert dec.done
    assert events[0] == StreamStart("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", events[0].model)  # type: ignore[union-attr]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello!"
    assert StreamEnd("stop") in events
    usage = [e for e in events if isinstance(e, UsageEvent)][-1].usage
    assert usage == Usage(35, 15, 10, 0)


def test_decode_tool_use_assembles_arguments() -> None:
    events = decode_all(StreamDecoder(), sse("anthropic", "stream_tool_use.sse"))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    first = "".join(e.arguments for e in calls if e.tool_index == 0)
    assert orjson.loads(first) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert calls[0].id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and calls[0].name == "get_weather"
    # A call without argument deltas still gets "{}" as its arguments.
    assert "".join(e.arguments for e in calls if e.tool_index == 1) == "{}"
    assert StreamEnd("tool_calls") in events
    usage = [e for e in events if isinstance(e, UsageEvent)][-1].usage
    assert usage == Usage(472 + 100 + 50, 89, 50, 100)


def test_decode_thinking_keeps_signature() -> None:
    events = decode_all(StreamDecoder(), sse("anthropic", "stream_thinking.sse"))
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(e.text for e in thinking).startswith("Let me solve")
    assert thinking[-1].signature is not None and thinking[-1].signature.startswith("EqQB")
    usage = [e for e in events if isinstance(e, UsageEvent)][-1].usage
    assert usage.reasoning_tokens == 120


def test_decode_error_event_and_cut() -> None:
    dec = StreamDecoder()
    events = decode_all(dec, sse("anthropic", "stream_error.sse"))
    assert not dec.done
    err = events[-1]
    assert isinstance(err, StreamError) and err.error_type == "overloaded_error"
    with pytest.raises(UpstreamProtocolError):
        StreamDecoder().feed("{not json")


def _names(data: bytes) -> list[str]:
    return [e.event or "" for e in parse_sse(data)]


def test_render_openai_tool_stream_for_anthropic_client() -> None:
    events = decode_all(
        openai_chat_stream.StreamDecoder(), sse("openai", "chat_completion_tool_calls_stream.sse")
    )
    data = _render(events)
    names = _names(data)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    # Decoding what was rendered gives back the same calls and usage.
    back = decode_all(StreamDecoder(), parse_sse(data))
    for i in (0, 1):
        sent = "".join(
            e.arguments for e in events if isinstance(e, ToolCallDelta) and e.tool_index == i
        )
        got = "".join(
            e.arguments for e in back if isinstance(e, ToolCallDelta) and e.tool_index == i
        )
        assert orjson.loads(sent) == orjson.loads(got)
    sent_usage = [e for e in events if isinstance(e, UsageEvent)][-1].usage
    got_usage = [e for e in back if isinstance(e, UsageEvent)][-1].usage
    assert got_usage == sent_usage
    assert StreamEnd("tool_calls") in back


def test_render_block_lifecycle() -> None:
    data = _render(
        [
            StreamStart("chatcmpl-9", "gpt"),
            ThinkingDelta("hm"),
            ThinkingDelta("", signature="sig"),
            TextDelta("Hi"),
            TextDelta(" there"),
            StreamEnd("length"),
            UsageEvent(Usage(10, 2)),
        ]
    )
    evs = [(e.event, orjson.loads(e.data)) for e in parse_sse(data)]
    start = evs[0][1]["message"]
    assert start["id"] == "msg_chatcmpl-9" and start["model"] == "m"
    kinds = [
        (name, d.get("index"), (d.get("delta") or d.get("content_block") or {}).get("type"))
        for name, d in evs[1:]
    ]
    assert kinds == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    delta = evs[-2][1]
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["input_tokens"] == 10 and delta["usage"]["output_tokens"] == 2


def test_render_error_closes_block_and_ends_stream() -> None:
    r = EventRenderer("m")
    out = r.render(StreamStart("x", "m")) + r.render(TextDelta("partial"))
    out += r.render(StreamError("upstream died", 502, "api_error"))
    assert r.render(StreamError("again", 502)) == b"" and r.done() == b""
    evs = parse_sse(out)
    assert [e.event for e in evs][-2:] == ["content_block_stop", "error"]
    assert orjson.loads(evs[-1].data) == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream died"},
    }


def test_stream_error_without_renderer() -> None:
    ev = parse_sse(stream_error(UpstreamTimeout("too slow")))[0]
    assert ev.event == "error"
    assert orjson.loads(ev.data)["error"]["type"] == "timeout_error"
