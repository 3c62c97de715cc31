"""Usage a stream reports, by kind: nothing reported is never zero, and what a cut stream did
report (Anthropic's message_start, Gemini's running totals) is kept."""

from __future__ import annotations

import orjson

from plano.core.model import StreamEnd, UsageEvent
from plano.wire import anthropic_answer, anthropic_stream, gemini_stream, openai_responses_stream


def _feed(decoder: object, events: list[tuple[str, dict[str, object]]]) -> list[object]:
    out: list[object] = []
    for name, data in events:
        out += decoder.feed(orjson.dumps(data).decode(), name)  # type: ignore[attr-defined]
    return out


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 20,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            "output_tokens": 1,
        },
    },
}


def test_anthropic_cut_after_message_start_keeps_input_and_cache_only() -> None:
    d = anthropic_stream.StreamDecoder()
    _feed(d, [("message_start", START)])
    u = d.partial_usage()
    assert u is not None
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (1320, 1000, 300)
    assert u.cache_write_1h_tokens == 200
    assert u.has_input and not u.has_output


def test_anthropic_message_delta_completes_the_usage() -> None:
    d = anthropic_stream.StreamDecoder()
    events = _feed(
        d,
        [
            ("message_start", START),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 57},
                },
            ),
        ],
    )
    (usage,) = [e for e in events if isinstance(e, UsageEvent)]
    assert usage.usage.complete and usage.usage.output_tokens == 57
    assert d.partial_usage() is not None and d.partial_usage().complete  # type: ignore[union-attr]


def test_anthropic_stream_without_any_usage_reports_none_not_zero() -> None:
    d = anthropic_stream.StreamDecoder()
    start = {"type": "message_start", "message": {"id": "m", "model": "c"}}
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    events = _feed(d, [("message_start", start), ("message_delta", delta)])
    assert [type(e) for e in events if not isinstance(e, StreamEnd)].count(UsageEvent) == 0
    assert d.partial_usage() is None


def test_responses_completed_without_usage_reports_none_not_zero() -> None:
    d = openai_responses_stream.StreamDecoder()
    events = _feed(
        d,
        [
            (
                "response.completed",
                {"type": "response.completed", "response": {"status": "completed", "output": []}},
            )
        ],
    )
    assert not any(isinstance(e, UsageEvent) for e in events)
    assert d.done


def test_gemini_running_totals_survive_a_cut() -> None:
    d = gemini_stream.StreamDecoder()
    chunk = {
        "candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3},
    }
    _feed(d, [("", chunk)])
    u = d.partial_usage()
    assert u is not None and (u.input_tokens, u.output_tokens) == (12, 3) and u.complete


def test_gemini_prompt_only_usage_leaves_the_output_to_count() -> None:
    d = gemini_stream.StreamDecoder()
    chunk = {
        "candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
        "usageMetadata": {"promptTokenCount": 12},
    }
    _feed(d, [("", chunk)])
    u = d.partial_usage()
    assert u is not None and u.has_input and not u.has_output


def test_anthropic_usage_renders_its_cache_lifetimes_back() -> None:
    u = anthropic_answer.decode_usage(START["message"]["usage"])  # type: ignore[index]
    assert u is not None
    out = anthropic_answer.render_usage(u)
    assert out["cache_creation"] == {
        "ephemeral_5m_input_tokens": 100,
        "ephemeral_1h_input_tokens": 200,
    }
    assert out["cache_creation_input_tokens"] == 300
