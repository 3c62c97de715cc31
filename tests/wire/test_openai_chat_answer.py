"""plano.wire.openai_chat_answer: response and usage decoding, response and error rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from plano.core.model import (
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)
from plano.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from plano.wire import openai_chat_answer as oca

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"


def _fixture_json(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


# ---------------------------------------------------------------- responses and usage


def test_decode_fixture_response_with_cached_tokens() -> None:
    body = _fixture_json("chat_completion.json")
    resp = oca.decode_response(body)
    assert resp.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert resp.model == "gpt-4o-2024-08-06"
    assert resp.created == 1741570283
    assert resp.raw is body
    (choice,) = resp.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.text().startswith("The image shows a wooden boardwalk")
    assert resp.usage == Usage(
        input_tokens=1117, output_tokens=46, cache_read_tokens=1024, reasoning_tokens=0
    )


def test_decode_fixture_response_with_tool_calls_and_reasoning_tokens() -> None:
    resp = oca.decode_response(_fixture_json("chat_completion_tool_calls.json"))
    (choice,) = resp.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == []
    assert choice.message.tool_calls == [
        ToolCall("call_12345xyz", "get_weather", '{"location":"Paris, France"}'),
        ToolCall("call_67890abc", "get_weather", '{"location":"Bogotá, Colombia"}'),
    ]
    assert resp.usage is not None
    assert resp.usage.reasoning_tokens == 192
    assert resp.usage.output_tokens == 217


def test_decode_usage_reads_deepseek_cache_hits() -> None:
    u = oca.decode_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        }
    )
    assert u == Usage(input_tokens=100, output_tokens=5, cache_read_tokens=64)


def test_decode_usage_prefers_prompt_tokens_details() -> None:
    u = oca.decode_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 4},
            "prompt_cache_hit_tokens": 9,
        }
    )
    assert u is not None and u.cache_read_tokens == 4


@pytest.mark.parametrize("usage", [None, "x", [1, 2]])
def test_decode_usage_of_non_object_is_none(usage: Any) -> None:
    assert oca.decode_usage(usage) is None


def test_decode_usage_with_nulls_is_zero() -> None:
    u = oca.decode_usage({"prompt_tokens": None, "prompt_tokens_details": None})
    assert u == Usage()


def test_decode_response_reasoning_content_and_finish_mapping() -> None:
    body = {
        "choices": [
            {
                "message": {"content": "x", "reasoning_content": "why"},
                "finish_reason": "function_call",
            },
            {"index": 5, "message": {"content": "y"}, "finish_reason": "length"},
            {"message": {"content": "z"}, "finish_reason": None},
        ]
    }
    resp = oca.decode_response(body)
    assert resp.choices[0].message.content == [ThinkingPart("why"), TextPart("x")]
    assert [c.finish_reason for c in resp.choices] == ["tool_calls", "length", "stop"]
    assert [c.index for c in resp.choices] == [0, 5, 2]
    assert resp.usage is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {},
        {"choices": None},
        {"choices": {"0": {}}},
        {"choices": ["x"]},
        {"choices": [{"message": "x"}]},
        {"choices": [{"message": {"tool_calls": ["x"]}}]},
        {"choices": [{"message": {"tool_calls": [{"function": "f"}]}}]},
        {"choices": [{"index": "first", "message": {}}]},
    ],
)
def test_malformed_response_bodies_raise_protocol_error(body: Any) -> None:
    with pytest.raises(UpstreamProtocolError) as info:
        oca.decode_response(body)
    assert info.value.status == 502


@pytest.mark.parametrize(
    "body",
    [
        {"choices": [], "usage": {"prompt_tokens": "many"}},
        {"choices": [], "created": "yesterday"},
    ],
)
def test_malformed_usage_or_created_raise_protocol_error(body: Any) -> None:
    with pytest.raises(UpstreamProtocolError):
        oca.decode_response(body)


def test_render_response_round_trip() -> None:
    resp = oca.decode_response(_fixture_json("chat_completion_tool_calls.json"))
    rendered = oca.render_response(resp)
    assert rendered["object"] == "chat.completion"
    assert rendered["choices"][0]["finish_reason"] == "tool_calls"
    assert rendered["usage"]["completion_tokens_details"] == {"reasoning_tokens": 192}
    again = oca.decode_response(rendered)
    assert again.choices == resp.choices
    assert again.usage == resp.usage
    assert again.id == resp.id


def test_error_body_shape() -> None:
    err = InvalidRequest("bad", param="stop", code="invalid_type")
    assert oca.error_body(err) == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "stop",
            "code": "invalid_type",
        }
    }


def test_error_body_uses_the_upstream_type() -> None:
    err = UpstreamStatusError("slow down", status=429, upstream_type="requests", code="rate_limit")
    body = oca.error_body(err)["error"]
    assert body["type"] == "requests"
    assert body["code"] == "rate_limit"
    plain = oca.error_body(UpstreamStatusError("x", status=500))["error"]
    assert plain["type"] == "api_error"
