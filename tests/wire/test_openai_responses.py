"""OpenAI Responses requests: the client parser, conversation items and state, and the
upstream encoder."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.wire.conftest import load

from plano.core.model import ImagePart, Message, TextPart, ToolCall
from plano.errors import InvalidRequest, UnsupportedCapability
from plano.wire import openai_chat, openai_responses
from plano.wire.openai_responses import encode_request, expand, parse_request, turn_state


@pytest.fixture
def body() -> dict[str, Any]:
    return copy.deepcopy(load("responses", "request.json"))


def test_parse_fixture(body: dict[str, Any]) -> None:
    req = parse_request(body)
    roles = [m.role for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool"]
    assert req.messages[0].text() == "You are a concise travel assistant."
    image = req.messages[1].content[1]
    assert isinstance(image, ImagePart) and image.detail == "low"
    call = req.messages[2].tool_calls[0]
    assert call.id == "call_unLAR8MvFNptuiZK6K6HCy5k" and call.name == "get_weather"
    assert req.messages[3].tool_call_id == call.id
    assert req.max_tokens == 500 and req.temperature == 0.2
    assert req.response_format is not None
    assert req.response_format["json_schema"]["name"] == "answer"
    assert req.tools[0].parameters["required"] == ["location"]
    assert req.metadata == {"session": "abc"} and req.opaque == []


def test_parse_string_input_and_parallel_calls() -> None:
    assert parse_request({"model": "m", "input": "hi"}).messages[0].text() == "hi"
    req = parse_request(
        {
            "input": [
                {"role": "user", "content": "both?"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok"}],
                },
                {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "a", "output": "1"},
                {"type": "function_call_output", "call_id": "b", "output": "2"},
            ]
        }
    )
    assistant = req.messages[1]
    assert assistant.text() == "ok" and [c.id for c in assistant.tool_calls] == ["a", "b"]
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "tool"]


def test_parse_records_hosted_tools_and_rejects_background() -> None:
    req = parse_request(
        {
            "input": "x",
            "tools": [{"type": "web_search_preview"}],
            "tool_choice": {"type": "file_search"},
        }
    )
    assert req.opaque == ["hosted tool 'web_search_preview'", "tool_choice 'file_search'"]
    with pytest.raises(UnsupportedCapability):
        parse_request({"input": "x", "background": True})
    with pytest.raises(InvalidRequest) as exc:
        parse_request({"input": []})
    assert exc.value.param == "input"
    with pytest.raises(InvalidRequest):
        parse_request({"input": "x", "store": "yes"})


def test_turn_state_and_expand(body: dict[str, Any]) -> None:
    body["previous_response_id"] = "resp_prev"
    req = parse_request(body)
    state = turn_state(req)
    assert state.previous_response_id == "resp_prev" and state.store
    assert state.input == body["input"]
    history = [
        {"role": "user", "content": "earlier question"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "earlier answer"}],
        },
        {"type": "reasoning", "summary": [], "encrypted_content": "sig"},
    ]
    expand(req, history)
    assert [m.role for m in req.messages][:4] == ["system", "user", "assistant", "assistant"]
    assert req.messages[1].text() == "earlier question"
    assert req.raw is not None and "previous_response_id" not in req.raw
    assert req.raw["input"] == history[:2] + body["input"]  # Plano's own reasoning item dropped
    assert body["previous_response_id"] == "resp_prev"  # the client's body is not mutated


def test_items_round_trip() -> None:
    msgs = [
        Message("user", [TextPart("q"), ImagePart("data:image/png;base64,AA")]),
        Message("assistant", [TextPart("a")], [ToolCall("c1", "f", '{"x":1}')]),
        Message("tool", [TextPart("out")], tool_call_id="c1"),
    ]
    items = openai_responses.render_items(msgs)
    back = openai_responses.parse_items(items, [])
    assert [(m.role, m.text(), [c.id for c in m.tool_calls]) for m in back] == [
        ("user", "q", []),
        ("assistant", "a", ["c1"]),
        ("tool", "out", []),
    ]
    assert back[2].tool_call_id == "c1"


def test_same_family_forwards_the_body(body: dict[str, Any]) -> None:
    assert encode_request(parse_request(body), "gpt-5") == {**body, "model": "gpt-5"}


def test_encode_from_openai_chat() -> None:
    chat = load("openai", "chat_request.json")
    out = encode_request(openai_chat.parse_request(chat), "gpt-4.1")
    assert out["store"] is False and out["max_output_tokens"] == 512
    assert out["tools"][0]["strict"] is False and out["tools"][0]["name"] == "get_weather"
    types = [i.get("type") for i in out["input"]]
    assert types == ["message", "message", "function_call", "function_call_output"]
    assert out["input"][0]["role"] == "developer"
    assert out["input"][1]["content"][1]["type"] == "input_image"


def test_encode_tool_choice_and_json_mode() -> None:
    req = openai_chat.parse_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_object"},
        }
    )
    out = encode_request(req, "m")
    assert out["tool_choice"] == {"type": "function", "name": "f"}
    assert out["text"] == {"format": {"type": "json_object"}}
