"""Responses streams: the upstream decoder on recorded streams and the client renderer, checked
with the openai SDK's own strict stream accumulator."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
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
from plano.errors import UpstreamTimeout
from plano.wire import anthropic_stream, gemini_stream, openai_chat_stream
from plano.wire.openai_responses_stream import EventRenderer, StreamDecoder, stream_error


def _render(events: list[StreamEvent], answer_id: str | None = None) -> bytes:
    r = EventRenderer("model-x", answer_id=answer_id, created=1)
    return b"".join(r.render(e) for e in events) + r.done()


def _accumulate(data: bytes) -> Any:
    """Feed rendered events through the SDK's own state machine; it raises on identity or
    ordering mistakes and returns the final parsed response."""
    from openai._models import construct_type_unchecked

    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for ev in parse_sse(data):
        raw = construct_type_unchecked(type_=ResponseStreamEvent, value=orjson.loads(ev.data))
        state.handle_event(raw)  # type: ignore[arg-type]
    return state._completed_response


def test_decode_text_stream() -> None:
    dec = StreamDecoder()
    events = decode_all(dec, sse("responses", "stream.sse"))
    assert dec.done
    assert isinstance(events[0], StreamStart) and events[0].id.startswith("resp_")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi there!"
    assert events[-2:] == [StreamEnd("stop"), UsageEvent(Usage(37, 11, 5))]


def test_decode_function_call_stream() -> None:
    events = decode_all(StreamDecoder(), sse("responses", "stream_function_call.sse"))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0].id == "call_fZ5ZbuEuYCDtnuUi7zBMzE35" and calls[0].name == "get_weather"
    assert orjson.loads("".join(c.arguments for c in calls)) == {"location": "Paris, France"}
    assert StreamEnd("tool_calls") in events


def test_render_gemini_stream_passes_sdk_accumulator() -> None:
    events = decode_all(gemini_stream.StreamDecoder(), sse("gemini", "stream_function_call.sse"))
    final = _accumulate(_render(events, "resp_abc"))
    assert final.id == "resp_abc"
    types = [o.type for o in final.output]
    assert types == ["message", "reasoning", "function_call", "function_call"]
    assert final.output[2].arguments == '{"location":"Paris"}'
    assert final.usage.input_tokens == 50


def test_render_anthropic_thinking_stream_passes_sdk_accumulator() -> None:
    events = decode_all(anthropic_stream.StreamDecoder(), sse("anthropic", "stream_thinking.sse"))
    final = _accumulate(_render(events))
    assert final.output_text == "27 * 453 = 12,231"
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content.startswith("EqQB")
    assert final.usage.output_tokens_details.reasoning_tokens == 120


def test_render_openai_parallel_tools_round_trip() -> None:
    events = decode_all(
        openai_chat_stream.StreamDecoder(), sse("openai", "chat_completion_tool_calls_stream.sse")
    )
    data = _render(events)
    final = _accumulate(data)
    assert [o.type for o in final.output] == ["function_call", "function_call"]
    back = decode_all(StreamDecoder(), parse_sse(data))
    sent = [e for e in events if isinstance(e, UsageEvent)][-1].usage
    assert [e for e in back if isinstance(e, UsageEvent)][-1].usage == sent


def test_render_length_is_incomplete() -> None:
    data = _render([StreamStart("x", "m"), TextDelta("a"), StreamEnd("length")])
    last = parse_sse(data)[-1]
    assert last.event == "response.incomplete"
    assert orjson.loads(last.data)["response"]["incomplete_details"] == {
        "reason": "max_output_tokens"
    }


def test_render_failure_is_error_then_failed_once() -> None:
    r = EventRenderer("m", answer_id="resp_1", created=1)
    out = r.render(StreamStart("x", "m")) + r.render(ThinkingDelta("hm"))
    out += r.render(StreamError("boom", 502, "api_error"))
    assert r.render(StreamError("again")) == b"" and r.done() == b""
    names = [e.event for e in parse_sse(out)]
    assert names[-2:] == ["error", "response.failed"]
    seqs = [orjson.loads(e.data)["sequence_number"] for e in parse_sse(out)]
    assert seqs == list(range(len(seqs)))
    failed = orjson.loads(parse_sse(out)[-1].data)["response"]
    assert failed["status"] == "failed" and failed["id"] == "resp_1"


@pytest.mark.parametrize("err", [UpstreamTimeout("slow")])
def test_stream_error_without_renderer(err: UpstreamTimeout) -> None:
    ev = parse_sse(stream_error(err))[0]
    assert ev.event == "error" and orjson.loads(ev.data)["message"] == "slow"
