"""Anthropic Messages requests: the client parser and the upstream encoder, on the fixtures."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from tests.wire.conftest import load

from plano.core.model import ImagePart, TextPart, ThinkingPart
from plano.errors import InvalidRequest
from plano.wire import anthropic_messages, openai_chat
from plano.wire.anthropic_messages import DEFAULT_MAX_TOKENS, encode_request, parse_request


@pytest.fixture
def body() -> dict[str, Any]:
    return copy.deepcopy(load("anthropic", "messages_request.json"))


def test_parse_system_blocks_keep_cache_control(body: dict[str, Any]) -> None:
    req = parse_request(body)
    system = req.messages[0]
    assert system.role == "system"
    assert [p.text for p in system.content if isinstance(p, TextPart)] == [
        "You are a weather assistant.",
        "Long reference material...",
    ]
    assert system.content[1].cache_control == {"type": "ephemeral"}  # type: ignore[union-attr]


def test_parse_images_base64_and_url(body: dict[str, Any]) -> None:
    user = parse_request(body).messages[1]
    images = [p for p in user.content if isinstance(p, ImagePart)]
    assert images[0].url == "data:image/png;base64,iVBORw0KGgo="
    assert images[1].url.startswith("https://upload.wikimedia.org/")


def test_parse_assistant_thinking_and_parallel_tool_use(body: dict[str, Any]) -> None:
    assistant = parse_request(body).messages[2]
    thinking = assistant.content[0]
    assert isinstance(thinking, ThinkingPart) and thinking.signature.startswith("EqQB")  # type: ignore[union-attr]
    assert [c.id for c in assistant.tool_calls] == [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01B7xq8PgdD3a5RkV1eA7cY2",
    ]
    assert orjson.loads(assistant.tool_calls[0].arguments) == {"location": "San Francisco, CA"}


def test_parse_tool_results_become_tool_messages_in_order(body: dict[str, Any]) -> None:
    msgs = parse_request(body).messages[3:]
    assert [m.role for m in msgs] == ["tool", "tool", "user"]
    assert msgs[0].tool_call_id == "toolu_01A09q90qw90lq917835lq9"
    assert msgs[0].text() == "15 degrees, foggy" and not msgs[0].is_error
    assert msgs[1].is_error and msgs[1].text() == "weather service timed out"
    assert msgs[2].text() == "Summarise, please."


def test_parse_params(body: dict[str, Any]) -> None:
    req = parse_request(body)
    assert req.max_tokens == 1024 and req.stop == ["\n\nHuman:"]
    assert req.tools[0].parameters["required"] == ["location"]
    assert req.tools[0].cache_control == {"type": "ephemeral"}
    assert req.tool_choice == "auto" and req.parallel_tool_calls is None
    assert req.thinking == {"type": "enabled", "budget_tokens": 2048}
    assert req.user == "user-1234" and req.opaque == []
    assert req.shape == "anthropic_messages" and req.raw is body


def test_parse_tool_choice_forms() -> None:
    base = {"messages": [{"role": "user", "content": "hi"}]}
    req = parse_request({**base, "tool_choice": {"type": "any", "disable_parallel_tool_use": True}})
    assert req.tool_choice == "required" and req.parallel_tool_calls is False
    assert parse_request({**base, "tool_choice": {"type": "tool", "name": "f"}}).tool_choice == {
        "name": "f"
    }
    with pytest.raises(InvalidRequest):
        parse_request({**base, "tool_choice": {"type": "sometimes"}})


def test_parse_records_what_it_cannot_carry() -> None:
    req = parse_request(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "document", "source": {"type": "text", "data": "x"}},
                        {"type": "text", "text": "summarise"},
                    ],
                }
            ],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        }
    )
    assert req.opaque == ["'document' content block", "server tool 'web_search_20250305'"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "max_tokens"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ],
)
def test_parse_rejects_wrong_types_naming_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_request(body)
    assert exc.value.param == param


def test_same_family_forwards_the_client_body(body: dict[str, Any]) -> None:
    out = encode_request(parse_request(body), "claude-opus-4-1")
    assert out == {**body, "model": "claude-opus-4-1"}


def test_round_trip_through_canonical_keeps_blocks(body: dict[str, Any]) -> None:
    req = parse_request(body)
    req.raw = None  # force the translation path
    out = encode_request(req, "m")
    assert out["system"] == body["system"]
    assert out["messages"][0]["content"] == body["messages"][0]["content"]
    assert out["messages"][1]["content"] == body["messages"][1]["content"]
    tool_turn = out["messages"][2]["content"]
    assert tool_turn[0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
        "content": [{"type": "text", "text": "15 degrees, foggy"}],
    }
    assert tool_turn[1]["is_error"] is True
    assert tool_turn[2] == {"type": "text", "text": "Summarise, please."}
    assert out["tools"] == body["tools"]
    assert out["thinking"] == body["thinking"] and out["stop_sequences"] == ["\n\nHuman:"]


def test_encode_from_openai_chat() -> None:
    chat = load("openai", "chat_request.json")
    out = encode_request(openai_chat.parse_request(chat), "claude-sonnet-4-5")
    assert out["system"] == "You are a helpful assistant."
    assert out["max_tokens"] == chat.get("max_tokens", chat.get("max_completion_tokens"))
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"][: len(roles)]
    calls = [b for b in out["messages"][1]["content"] if b["type"] == "tool_use"]
    results = [b for b in out["messages"][2]["content"] if b["type"] == "tool_result"]
    assert [c["id"] for c in calls] == [r["tool_use_id"] for r in results]
    assert all(isinstance(c["input"], dict) for c in calls)
    image = out["messages"][0]["content"][1]
    assert image["source"]["type"] == "url"


def _chat(**kw: Any) -> Any:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], **kw}
    return openai_chat.parse_request(body)


def test_encode_defaults_max_tokens_and_maps_tool_choice() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    out = encode_request(_chat(tools=tools, tool_choice="required", parallel_tool_calls=False), "m")
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    forced = {"type": "function", "function": {"name": "f"}}
    assert encode_request(_chat(tools=tools, tool_choice=forced), "m")["tool_choice"] == {
        "type": "tool",
        "name": "f",
    }
    assert "tool_choice" not in encode_request(_chat(tool_choice="auto"), "m")


def test_encode_merges_parallel_tool_results_and_sanitizes_ids() -> None:
    req = openai_chat.parse_request(
        {
            "model": "x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in both?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "call:1",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        },
                        {
                            "id": "call.2",
                            "type": "function",
                            "function": {"name": "w", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call:1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call.2", "content": "rain"},
            ],
        }
    )
    out = encode_request(req, "m")
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    ids = [b["id"] for b in out["messages"][1]["content"]]
    assert ids == ["call_1", "call_2"]  # empty assistant text dropped, ids made valid
    assert [b["tool_use_id"] for b in out["messages"][2]["content"]] == ids


def test_encode_rejects_non_object_arguments() -> None:
    req = openai_chat.parse_request(
        {
            "model": "x",
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "w", "arguments": "[1]"},
                        }
                    ],
                },
            ],
        }
    )
    with pytest.raises(InvalidRequest, match="JSON object"):
        encode_request(req, "m")


def test_unsigned_thinking_is_not_sent_to_anthropic() -> None:
    req = openai_chat.parse_request(
        {
            "model": "x",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "reasoning_content": "hmm"},
                {"role": "user", "content": "q2"},
            ],
        }
    )
    out = encode_request(req, "m")
    assert out["messages"][1]["content"] == [{"type": "text", "text": "a"}]


def test_tool_id_is_stable() -> None:
    assert anthropic_messages.tool_id("call_ab-1") == "call_ab-1"
    assert anthropic_messages.tool_id("a/b c") == "a_b_c"
