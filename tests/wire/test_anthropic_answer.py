"""Anthropic answers: decoding upstream messages, rendering for Anthropic clients, usage and
errors."""

from __future__ import annotations

import pytest
from tests.wire.conftest import load

from plano.core.model import ChatResponse, Choice, Message, TextPart, ThinkingPart, ToolCall, Usage
from plano.errors import (
    InvalidRequest,
    Overloaded,
    RateLimited,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from plano.wire import anthropic_answer, openai_chat_answer
from plano.wire.anthropic_answer import decode_response, decode_usage, render_response


def test_usage_folds_cache_into_input_and_back() -> None:
    raw = load("anthropic", "message.json")["usage"]
    u = decode_usage(raw)
    assert u == Usage(21 + 188086 + 1024, 393, 1024, 188086)
    back = anthropic_answer.render_usage(u)
    assert back["input_tokens"] == 21
    assert back["cache_creation_input_tokens"] == 188086
    assert back["cache_read_input_tokens"] == 1024


def test_openai_usage_rendered_for_anthropic_clients_excludes_cached() -> None:
    u = openai_chat_answer.decode_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 60},
        }
    )
    assert u is not None
    out = anthropic_answer.render_usage(u)
    assert (out["input_tokens"], out["cache_read_input_tokens"]) == (40, 60)


def test_decode_tool_use_with_thinking() -> None:
    resp = decode_response(load("anthropic", "message_tool_use.json"))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    thinking = choice.message.content[0]
    assert isinstance(thinking, ThinkingPart) and thinking.signature
    assert [c.arguments for c in choice.message.tool_calls] == [
        '{"location":"San Francisco, CA","unit":"celsius"}',
        '{"location":"Paris, France","unit":"celsius"}',
    ]
    assert resp.usage is not None and resp.usage.reasoning_tokens == 40


def test_render_to_openai_chat_client() -> None:
    out = openai_chat_answer.render_response(
        decode_response(load("anthropic", "message_tool_use.json"))
    )
    msg = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert len(msg["tool_calls"]) == 2 and msg["content"].startswith("I'll check")
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 40


def test_render_for_anthropic_client() -> None:
    resp = ChatResponse(
        "chatcmpl-1",
        "gpt-4o",
        [
            Choice(
                0,
                Message(
                    "assistant",
                    [ThinkingPart("why", "sig"), TextPart("")],
                    [ToolCall("call_1", "f", '{"a": 1}')],
                ),
                "stop",
            )
        ],
        Usage(10, 5, 4),
    )
    out = render_response(resp)
    assert out["id"] == "msg_chatcmpl-1"
    assert out["content"] == [
        {"type": "thinking", "thinking": "why", "signature": "sig"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"]["input_tokens"] == 6 and out["usage"]["cache_read_input_tokens"] == 4


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
def test_stop_reasons(finish: str, stop: str) -> None:
    resp = ChatResponse("x", "m", [Choice(0, Message("assistant", [TextPart("t")]), finish)])  # type: ignore[arg-type]
    assert render_response(resp)["stop_reason"] == stop


def test_model_arguments_that_are_not_an_object_are_a_protocol_error() -> None:
    resp = ChatResponse(
        "x", "m", [Choice(0, Message("assistant", [], [ToolCall("c", "f", "{oops")]), "tool_calls")]
    )
    with pytest.raises(UpstreamProtocolError):
        render_response(resp)


def test_broken_body_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        decode_response({"type": "message"})


def test_error_bodies() -> None:
    assert anthropic_answer.error_body(InvalidRequest("bad")) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad"},
    }
    assert anthropic_answer.error_type(RateLimited("slow down")) == "rate_limit_error"
    assert anthropic_answer.error_type(Overloaded("busy")) == "overloaded_error"
    upstream = UpstreamStatusError("x", status=529, upstream_type="overloaded_error")
    assert anthropic_answer.error_type(upstream) == "overloaded_error"
    openai_429 = UpstreamStatusError("x", status=429, upstream_type="requests")
    assert anthropic_answer.error_type(openai_429) == "rate_limit_error"


def test_parse_error() -> None:
    raw = (load("anthropic", "error.json"),)
    import orjson

    message, etype = anthropic_answer.parse_error(orjson.dumps(raw[0]))
    assert etype == "rate_limit_error" and message and "rate limit" in message
    assert anthropic_answer.parse_error(b"<html>") == (None, None)
