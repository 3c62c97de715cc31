"""Responses answers: upstream response objects decoded, canonical answers rendered."""

from __future__ import annotations

import orjson
import pytest
from tests.wire.conftest import load

from plano.core.model import ChatResponse, Choice, Message, TextPart, ToolCall, Usage
from plano.errors import UpstreamProtocolError
from plano.wire import openai_chat_answer
from plano.wire.openai_responses_answer import decode_response, render_response, response_id


def test_decode_response_fixtures() -> None:
    resp = decode_response(load("responses", "response.json"))
    assert resp.choices[0].message.text().startswith("In a peaceful grove")
    assert resp.usage == Usage(36, 87, 12)
    calls = decode_response(load("responses", "response_function_call.json"))
    assert calls.choices[0].finish_reason == "tool_calls"
    assert [c.id for c in calls.choices[0].message.tool_calls] == [
        "call_2zlU3YaHqVmYAV2xSaZBXEGP",
        "call_Ym7wz2MRWJrCMrBfUDFE2J9v",
    ]
    assert calls.usage is not None and calls.usage.reasoning_tokens == 128
    cut = decode_response(load("responses", "response_incomplete.json"))
    assert cut.choices[0].finish_reason == "length"
    with pytest.raises(UpstreamProtocolError):
        decode_response({"id": "x"})


def test_render_for_responses_client() -> None:
    resp = ChatResponse(
        "chatcmpl-42",
        "claude",
        [Choice(0, Message("assistant", [TextPart("hi")], [ToolCall("t1", "f", "{}")]), "length")],
        Usage(10, 3, 4),
    )
    out = render_response(resp)
    assert out["id"] == "resp_chatcmpl-42" and out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [i["type"] for i in out["output"]] == ["message", "function_call"]
    assert out["output"][1]["call_id"] == "t1"
    assert out["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert response_id("resp_abc") == "resp_abc"


def test_chat_render_of_responses_answer() -> None:
    out = openai_chat_answer.render_response(
        decode_response(load("responses", "response_function_call.json"))
    )
    msg = out["choices"][0]["message"]
    assert orjson.loads(msg["tool_calls"][1]["function"]["arguments"]) == {
        "location": "Bogotá, Colombia"
    }
