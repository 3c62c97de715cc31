"""plano.wire.openai_chat: request validation and upstream encoding. (Kept next to the
OpenAI-family codec tests; it mirrors ``wire/openai_chat.py``.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from plano.core.model import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
)
from plano.errors import InvalidRequest
from plano.wire import openai_chat as oc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"


def _fixture_json(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    body.update(kw)
    return body


def _invalid(body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        oc.parse_request(body)
    return info.value


# ---------------------------------------------------------------- parse_request: valid bodies


def test_parse_minimal_request() -> None:
    req = oc.parse_request(_body())
    assert req.model == "gpt-4o"
    assert req.messages == [Message("user", [TextPart("hi")])]
    assert req.stream is False
    assert req.max_tokens is None
    assert req.stop == []
    assert req.tools == []
    assert req.include_usage is False
    assert req.shape == "openai_chat"
    assert req.extra == {}


def test_parse_fixture_request() -> None:
    body = _fixture_json("chat_request.json")
    req = oc.parse_request(body)
    assert req.raw is body
    assert req.stream is True
    assert req.include_usage is True
    assert req.max_tokens == 512
    assert req.temperature == 0.2
    assert req.tool_choice == "auto"
    dev, user, assistant, tool = req.messages
    assert dev.role == "developer"
    assert req.system_text == "You are a helpful assistant."
    assert user.content[0] == TextPart("What's in this image, and what's the weather there?")
    assert isinstance(user.content[1], ImagePart)
    assert user.content[1].url.startswith("https://upload.wikimedia.org/")
    assert user.content[1].detail == "low"
    assert req.has_images
    assert assistant.content == []
    assert assistant.tool_calls == [
        ToolCall("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", '{"location":"Madison, WI"}')
    ]
    assert tool.role == "tool"
    assert tool.tool_call_id == "call_DdmO9pD3xa9XTPNJ32zg2hcA"
    assert tool.text() == '{"temperature_c":21}'
    (t,) = req.tools
    assert t.name == "get_weather"
    assert t.description == "Get current temperature for a given location."
    assert t.parameters["required"] == ["location"]
    # Parameters no canonical field covers are kept for same-family upstreams.
    assert req.extra == {
        "seed": 42,
        "logprobs": False,
        "store": True,
        "reasoning_effort": "low",
        "service_tier": "auto",
    }


def test_max_completion_tokens_takes_precedence_over_max_tokens() -> None:
    assert oc.parse_request(_body(max_completion_tokens=7, max_tokens=99)).max_tokens == 7
    assert oc.parse_request(_body(max_tokens=99)).max_tokens == 99


def test_stop_string_becomes_a_list() -> None:
    assert oc.parse_request(_body(stop="END")).stop == ["END"]
    assert oc.parse_request(_body(stop=["a", "b"])).stop == ["a", "b"]
    assert oc.parse_request(_body(stop=None)).stop == []


def test_numbers_accept_int_and_float() -> None:
    req = oc.parse_request(_body(temperature=1, top_p=0.5))
    assert req.temperature == 1
    assert req.top_p == 0.5


def test_null_optional_fields_are_absent() -> None:
    req = oc.parse_request(
        _body(temperature=None, max_tokens=None, tools=None, stream=None, user=None)
    )
    assert req.temperature is None
    assert req.max_tokens is None
    assert req.tools == []
    assert req.stream is False


def test_model_may_be_missing() -> None:
    # The catalog decides: empty means the default model.
    assert oc.parse_request({"messages": [{"role": "user", "content": "x"}]}).model == ""


def test_assistant_tool_call_arguments_given_as_object_are_serialised() -> None:
    msg = {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}],
    }
    req = oc.parse_request(_body(messages=[msg]))
    assert req.messages[0].tool_calls == [ToolCall("c1", "f", '{"a":1}')]


def test_image_url_given_as_plain_string() -> None:
    msg = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": "data:image/png;base64,AA"}],
    }
    (part,) = oc.parse_request(_body(messages=[msg])).messages[0].content
    assert part == ImagePart("data:image/png;base64,AA", None)


def test_text_part_keeps_cache_control_and_unknown_parts_are_skipped() -> None:
    msg = {
        "role": "user",
        "content": [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
        ],
    }
    req = oc.parse_request(_body(messages=[msg]))
    assert req.messages[0].content == [TextPart("a", {"type": "ephemeral"})]
    # The skipped part is noted, so only a same-family upstream (which gets raw) serves it.
    assert len(req.opaque) == 1 and "input_audio" in req.opaque[0]
    assert req.raw is not None and req.raw["messages"][0] is msg


def test_reasoning_content_of_an_assistant_message_becomes_a_thinking_part() -> None:
    msg = {"role": "assistant", "content": "answer", "reasoning_content": "thought"}
    parts = oc.parse_request(_body(messages=[msg])).messages[0].content
    assert parts == [ThinkingPart("thought"), TextPart("answer")]


def test_metadata_values_become_strings_and_user_is_kept() -> None:
    req = oc.parse_request(_body(metadata={"a": 1, "b": "x"}, user="u-1"))
    assert req.metadata == {"a": "1", "b": "x"}
    assert req.user == "u-1"


# ---------------------------------------------------------------- parse_request: errors


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"model": 5}, "model"),
        ({"stream": "true"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"max_tokens": "9"}, "max_tokens"),
        ({"max_tokens": 9.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_completion_tokens": "9"}, "max_completion_tokens"),
        ({"max_completion_tokens": False}, "max_completion_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": [1]}, "top_p"),
        ({"top_p": False}, "top_p"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", 1]}, "stop"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tool_choice": 3}, "tool_choice"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"response_format": "json"}, "response_format"),
        ({"stream_options": True}, "stream_options"),
        ({"user": 42}, "user"),
        ({"metadata": ["a"]}, "metadata"),
    ],
)
def test_wrong_types_name_the_parameter(patch: dict[str, Any], param: str) -> None:
    err = _invalid(_body(**patch))
    assert err.param == param
    assert err.status == 400
    assert err.code == "invalid_type"
    assert f"'{param}'" in err.message


def test_bool_error_message_names_the_actual_type() -> None:
    assert "got boolean" in _invalid(_body(max_tokens=True)).message
    assert "got string" in _invalid(_body(temperature="1")).message


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_body_must_be_an_object(body: Any) -> None:
    err = _invalid(body)
    assert err.code == "invalid_json"


@pytest.mark.parametrize("messages", [None, [], "hi", {"role": "user"}])
def test_messages_required_non_empty_array(messages: Any) -> None:
    body = {"model": "m"} if messages is None else _body(messages=messages)
    assert _invalid(body).param == "messages"


@pytest.mark.parametrize("value", [0, -3])
def test_max_tokens_must_be_positive(value: int) -> None:
    assert _invalid(_body(max_tokens=value)).param == "max_tokens"


def test_max_completion_tokens_below_one_names_its_own_param() -> None:
    assert _invalid(_body(max_completion_tokens=0)).param == "max_completion_tokens"


def test_max_tokens_is_validated_even_when_max_completion_tokens_is_given() -> None:
    assert _invalid(_body(max_completion_tokens=5, max_tokens="x")).param == "max_tokens"


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (["hi"], "messages[0]"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": 5}], "messages[1].content"),
        ([{"role": "user", "content": {"text": "x"}}], "messages[0].content"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "text", "text": 1}]}],
            "messages[0].content[0].text",
        ),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}],
            "messages[0].content[0]",
        ),
        ([{"role": "assistant", "tool_calls": "x"}], "messages[0].tool_calls"),
        ([{"role": "assistant", "tool_calls": [{"id": "c"}]}], "messages[0].tool_calls[0]"),
        (
            [{"role": "assistant", "tool_calls": [{"function": {"name": 3}}]}],
            "messages[0].tool_calls[0]",
        ),
    ],
)
def test_message_errors_name_the_path(messages: list[Any], param: str) -> None:
    assert _invalid(_body(messages=messages)).param == param


def test_bad_role_has_invalid_value_code() -> None:
    err = _invalid(_body(messages=[{"role": "robot", "content": "x"}]))
    assert err.code == "invalid_value"


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        (["x"], "tools[0]"),
        ([{"type": "function"}], "tools[0]"),
        ([{"type": "function", "function": {"name": 1}}], "tools[0]"),
        (
            [
                {"type": "function", "function": {"name": "ok"}},
                {"type": "function", "function": {"name": "f", "parameters": "x"}},
            ],
            "tools[1]",
        ),
    ],
)
def test_tool_errors_name_the_tool(tools: list[Any], param: str) -> None:
    assert _invalid(_body(tools=tools)).param == param


# ---------------------------------------------------------------- encode_request


def test_pass_through_keeps_unknown_params_and_only_changes_model() -> None:
    body = _fixture_json("chat_request.json")
    body["stream"] = False
    original = copy.deepcopy(body)
    req = oc.parse_request(body)
    out = oc.encode_request(req, "gpt-4o-2024-08-06", ask_usage=True)
    assert out == {**original, "model": "gpt-4o-2024-08-06"}
    assert body == original  # the client's body is not mutated


def test_stream_pass_through_adds_include_usage_without_touching_the_client_body() -> None:
    body = _body(stream=True, stream_options={"other": 1}, seed=3)
    req = oc.parse_request(body)
    out = oc.encode_request(req, "up-model", ask_usage=True)
    assert out["stream_options"] == {"other": 1, "include_usage": True}
    assert out["seed"] == 3
    assert body["stream_options"] == {"other": 1}
    assert req.include_usage is False  # the client did not ask


def test_stream_without_ask_usage_is_left_alone() -> None:
    req = oc.parse_request(_body(stream=True))
    assert "stream_options" not in oc.encode_request(req, "m", ask_usage=False)


def test_non_stream_never_gets_stream_options() -> None:
    req = oc.parse_request(_body())
    assert "stream_options" not in oc.encode_request(req, "m", ask_usage=True)


def test_canonical_encoding_when_raw_is_none() -> None:
    req = ChatRequest(
        model="alias",
        messages=[
            Message("system", [TextPart("be brief")]),
            Message(
                "user",
                [TextPart("look", {"type": "ephemeral"}), ImagePart("https://x/i.png", "high")],
            ),
            Message(
                "assistant",
                [ThinkingPart("hidden"), TextPart("calling")],
                [ToolCall("c1", "f", '{"a":1}')],
            ),
            Message("tool", [TextPart("42")], tool_call_id="c1", name="f"),
        ],
        stream=True,
        max_tokens=10,
        temperature=0.0,
        stop=["x"],
        tools=[Tool("f", "does f", {"type": "object"}), Tool("g")],
        tool_choice={"name": "f"},
        parallel_tool_calls=False,
        extra={"seed": 1},
        shape="anthropic_messages",
        raw=None,
    )
    out = oc.encode_request(req, "gpt-4o", ask_usage=True)
    assert out == {
        "seed": 1,
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x/i.png", "detail": "high"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": "calling",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a":1}'},
                    }
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1", "name": "f"},
        ],
        "stream": True,
        "max_tokens": 10,
        "temperature": 0.0,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "stop": ["x"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "does f",
                    "parameters": {"type": "object"},
                },
            },
            {
                "type": "function",
                "function": {"name": "g", "parameters": {"type": "object", "properties": {}}},
            },
        ],
        "stream_options": {"include_usage": True},
    }


def test_request_from_another_shape_is_encoded_canonically_even_with_raw() -> None:
    req = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("hi")])],
        shape="anthropic_messages",
        raw={"model": "m", "max_tokens": 5, "messages": [], "anthropic_only": True},
    )
    out = oc.encode_request(req, "gpt-4o", ask_usage=False)
    assert "anthropic_only" not in out
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_canonical_round_trip_of_a_parsed_request() -> None:
    body = _fixture_json("chat_request.json")
    req = oc.parse_request(body)
    req.raw = None
    again = oc.parse_request(oc.encode_request(req, "gpt-4o", ask_usage=False))
    assert again.messages == req.messages
    assert again.tools == req.tools
    assert again.max_tokens == req.max_tokens
    assert again.extra == req.extra
