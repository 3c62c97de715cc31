"""Gemini as an upstream: request encoding, responses, usage, ids and errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.wire.conftest import load

from plano.core.model import Usage
from plano.errors import InvalidRequest
from plano.wire import anthropic_answer, anthropic_messages, gemini, openai_chat, openai_chat_answer
from plano.wire.gemini import call_id, decode_response, decode_usage, encode_request

TOOL = {
    "type": "function",
    "function": {
        "name": "set_light_values",
        "description": "Sets the brightness and color temperature of a light.",
        "parameters": {
            "type": "object",
            "properties": {
                "brightness": {"type": "integer", "description": "Light level from 0 to 100."},
                "color_temp": {"type": "string", "enum": ["daylight", "cool", "warm"]},
            },
            "required": ["brightness", "color_temp"],
        },
    },
}


def _chat(**kw: Any) -> Any:
    return openai_chat.parse_request({"model": "g", **kw})


def test_encode_matches_the_documented_request() -> None:
    """The OpenAI-chat form of the docs' conversation encodes to the docs' request."""
    req = _chat(
        messages=[
            {"role": "system", "content": "You are a helpful lighting assistant."},
            {"role": "user", "content": "Dim the lights so the room feels cozy and warm."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "set_light_values",
                            "arguments": '{"brightness": 25, "color_temp": "warm"}',
                        },
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": '{"brightness": 25, "colorTemperature": "warm"}',
            },
        ],
        tools=[TOOL],
        tool_choice="auto",
        max_tokens=800,
        temperature=0.7,
        top_p=0.9,
        stop=["Title"],
    )
    assert encode_request(req, "gemini-2.5-flash") == load("gemini", "generate_request.json")


def test_function_responses_map_back_by_order_when_ids_are_unknown() -> None:
    req = _chat(
        messages=[
            {"role": "user", "content": "weather in both?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    },
                    {
                        "id": "b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "unknown-1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "unknown-2", "content": "noon"},
        ]
    )
    contents = encode_request(req, "g")["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    responses = [p["functionResponse"] for p in contents[2]["parts"]]
    assert responses == [
        {"name": "get_weather", "response": {"output": "sunny"}},
        {"name": "get_time", "response": {"output": "noon"}},
    ]


def test_tool_error_and_unmatched_result() -> None:
    msgs = orjson.loads(
        orjson.dumps(load("anthropic", "messages_request.json"))
    )  # is_error tool_result
    req = anthropic_messages.parse_request(msgs)
    parts = encode_request(req, "g")["contents"][2]["parts"]
    assert parts[1]["functionResponse"] == {
        "name": "get_weather",
        "response": {"error": "weather service timed out"},
    }
    orphan = _chat(messages=[{"role": "tool", "tool_call_id": "x", "content": "?"}])
    with pytest.raises(InvalidRequest, match="matches no tool call"):
        encode_request(orphan, "g")


def test_images_system_json_mode_thinking_and_forced_tool() -> None:
    req = _chat(
        messages=[
            {"role": "developer", "content": "Answer in JSON."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            },
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": {"type": "object"}},
        },
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "set_light_values"}},
    )
    req.thinking = {"type": "enabled", "budget_tokens": 1024}
    body = encode_request(req, "g")
    assert body["systemInstruction"] == {"parts": [{"text": "Answer in JSON."}]}
    assert body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}
    }
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseJsonSchema"] == {"type": "object"}
    assert gen["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["set_light_values"]}
    }


def test_decode_text_with_thoughts_and_cache() -> None:
    resp = decode_response(load("gemini", "generate_response.json"))
    assert resp.id == "Ok6BaPvAKdKwm9IP3qbBaA" and resp.model == "gemini-2.5-flash"
    msg = resp.choices[0].message
    assert msg.text() == "AI learns patterns from data to make predictions."
    assert resp.usage == Usage(
        input_tokens=120, output_tokens=112, cache_read_tokens=100, reasoning_tokens=100
    )
    assert resp.choices[0].finish_reason == "stop"


def test_decode_parallel_calls_with_stable_ids_and_signature() -> None:
    body = load("gemini", "function_call.json")
    a, b = decode_response(body), decode_response(body)
    calls = a.choices[0].message.tool_calls
    assert [c.id for c in calls] == [c.id for c in b.choices[0].message.tool_calls]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert a.choices[0].finish_reason == "tool_calls"
    assert a.usage == Usage(input_tokens=80, output_tokens=80, reasoning_tokens=50)
    # The signature goes back on the first call when the conversation continues.
    chat = openai_chat_answer.render_response(a)
    assert chat["choices"][0]["message"]["tool_calls"][0]["id"] == calls[0].id
    req = anthropic_messages.parse_request(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                anthropic_answer.render_response(a) | {"role": "assistant"},
            ]
        }
    )
    model_turn = encode_request(req, "g")["contents"][1]["parts"]
    assert model_turn[0]["thoughtSignature"] == "CiQB0e2Kb6Nq2dHy1m1v2c3EXAMPLESIG"
    assert "thoughtSignature" not in model_turn[1]


def test_parse_error_with_retry_info() -> None:
    body = orjson.dumps(load("gemini", "error_429.json"))
    message, status, delay = gemini.parse_error(body)
    assert status == "RESOURCE_EXHAUSTED" and delay == 38.0 and message


@pytest.mark.parametrize("name", ["blocked.json", "safety_finish.json"])
def test_safety_is_a_content_filter(name: str) -> None:
    assert decode_response(load("gemini", name)).choices[0].finish_reason == "content_filter"


def test_usage_absent() -> None:
    assert decode_usage(None) is None


def test_call_id_is_deterministic() -> None:
    assert call_id("r", 0, "f", "{}") == call_id("r", 0, "f", "{}")
    assert call_id("r", 0, "f", "{}") != call_id("r", 1, "f", "{}")
