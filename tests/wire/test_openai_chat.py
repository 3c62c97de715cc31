"""plano.wire.openai_chat: request validation, upstream encoding, response and stream decoding,
chunk rendering. (Kept next to the OpenAI-family codec tests; it mirrors ``wire/openai_chat.py``.)
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
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.core.sse import SSEParser
from plano.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
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


# ---------------------------------------------------------------- responses and usage


def test_decode_fixture_response_with_cached_tokens() -> None:
    body = _fixture_json("chat_completion.json")
    resp = oc.decode_response(body)
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
    resp = oc.decode_response(_fixture_json("chat_completion_tool_calls.json"))
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
    u = oc.decode_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        }
    )
    assert u == Usage(input_tokens=100, output_tokens=5, cache_read_tokens=64)


def test_decode_usage_prefers_prompt_tokens_details() -> None:
    u = oc.decode_usage(
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
    assert oc.decode_usage(usage) is None


def test_decode_usage_with_nulls_is_zero() -> None:
    u = oc.decode_usage({"prompt_tokens": None, "prompt_tokens_details": None})
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
    resp = oc.decode_response(body)
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
        oc.decode_response(body)
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
        oc.decode_response(body)


def test_render_response_round_trip() -> None:
    resp = oc.decode_response(_fixture_json("chat_completion_tool_calls.json"))
    rendered = oc.render_response(resp)
    assert rendered["object"] == "chat.completion"
    assert rendered["choices"][0]["finish_reason"] == "tool_calls"
    assert rendered["usage"]["completion_tokens_details"] == {"reasoning_tokens": 192}
    again = oc.decode_response(rendered)
    assert again.choices == resp.choices
    assert again.usage == resp.usage
    assert again.id == resp.id


def test_error_body_shape() -> None:
    err = InvalidRequest("bad", param="stop", code="invalid_type")
    assert oc.error_body(err) == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "stop",
            "code": "invalid_type",
        }
    }


def test_error_body_uses_the_upstream_type() -> None:
    err = UpstreamStatusError("slow down", status=429, upstream_type="requests", code="rate_limit")
    body = oc.error_body(err)["error"]
    assert body["type"] == "requests"
    assert body["code"] == "rate_limit"
    plain = oc.error_body(UpstreamStatusError("x", status=500))["error"]
    assert plain["type"] == "api_error"


# ---------------------------------------------------------------- StreamDecoder


def _decode_sse(wire: bytes) -> tuple[list[StreamEvent], oc.StreamDecoder]:
    parser = SSEParser()
    dec = oc.StreamDecoder()
    events: list[StreamEvent] = []
    for sse in [*parser.feed(wire), *parser.flush()]:
        events.extend(dec.feed(sse.data, sse.event))
    return events, dec


def test_decode_fixture_tool_call_stream() -> None:
    events, dec = _decode_sse((FIXTURES / "chat_completion_tool_calls_stream.sse").read_bytes())
    assert dec.done
    assert events[0] == StreamStart("chatcmpl-BNcFjXwJ2o1kQvE3ZyXq8Tn4LmP0r", "gpt-4o-2024-08-06")
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    firsts = [c for c in calls if c.id is not None]
    assert [(c.tool_index, c.id, c.name) for c in firsts] == [
        (0, "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"),
        (1, "call_ABZ5ySRl4PqW0tHnK4cDrmVt", "get_weather"),
    ]
    args: dict[int, str] = {}
    for c in calls:
        args[c.tool_index] = args.get(c.tool_index, "") + c.arguments
    assert {i: orjson.loads(a) for i, a in args.items()} == {
        0: {"location": "Paris, France"},
        1: {"location": "Bogotá, Colombia"},
    }
    assert not any(isinstance(e, TextDelta) for e in events)
    ends = [e for e in events if isinstance(e, StreamEnd)]
    assert ends == [StreamEnd("tool_calls", 0)]
    (usage,) = [e for e in events if isinstance(e, UsageEvent)]
    assert usage.usage == Usage(input_tokens=82, output_tokens=54)
    # usage comes after the finish, as OpenAI sends it.
    assert events.index(usage) > events.index(ends[0])


def test_stream_decoder_role_chunk_content_finish_and_done() -> None:
    dec = oc.StreamDecoder()
    first = dec.feed(
        '{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'
    )
    assert first == [StreamStart("c1", "m")]
    assert dec.started
    assert dec.feed('{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}') == [
        TextDelta("Hel", 0)
    ]
    assert dec.feed('{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}') == [
        StreamEnd("length", 0)
    ]
    assert not dec.done
    assert dec.feed("[DONE]") == []
    assert dec.done


def test_stream_decoder_reasoning_and_unknown_finish() -> None:
    dec = oc.StreamDecoder()
    evs = dec.feed(
        '{"choices":[{"index":1,"delta":{"reasoning_content":"hm","content":"ok"},'
        '"finish_reason":"weird"}]}'
    )
    assert evs == [
        StreamStart("", ""),
        ThinkingDelta("hm", index=1),
        TextDelta("ok", 1),
        StreamEnd("stop", 1),
    ]


def test_stream_decoder_usage_only_chunk() -> None:
    dec = oc.StreamDecoder()
    dec.feed('{"id":"c","choices":[{"delta":{"content":"x"}}]}')
    evs = dec.feed(
        '{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,'
        '"prompt_tokens_details":{"cached_tokens":2}}}'
    )
    assert evs == [UsageEvent(Usage(input_tokens=5, output_tokens=3, cache_read_tokens=2))]


def test_stream_decoder_error_chunk() -> None:
    dec = oc.StreamDecoder()
    evs = dec.feed('{"error":{"message":"The server had an error","type":"server_error"}}')
    assert evs == [StreamError("The server had an error")]
    assert dec.feed('{"error":"boom"}') == [StreamError("upstream stream error")]
    assert not dec.done


@pytest.mark.parametrize("data", ["not json", "{", "[1,2]", '"text"', "42", ""])
def test_stream_decoder_garbage_raises_protocol_error(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        oc.StreamDecoder().feed(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"choices":[1]}',
        '{"choices":"abc"}',
        '{"choices":[{"delta":"x"}]}',
        '{"choices":[{"delta":{"tool_calls":["x"]}}]}',
        '{"usage":{"prompt_tokens":"many"}}',
    ],
)
def test_stream_decoder_wrong_structure_raises_protocol_error(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        oc.StreamDecoder().feed(data)


# ---------------------------------------------------------------- ChunkRenderer


def _round_trip(events: list[StreamEvent], *, include_usage: bool) -> list[StreamEvent]:
    r = oc.ChunkRenderer("claude-x", include_usage=include_usage, created=123)
    wire = b"".join(r.render(e) for e in events) + r.done()
    got, dec = _decode_sse(wire)
    assert dec.done
    return got


def test_chunk_renderer_round_trip() -> None:
    events: list[StreamEvent] = [
        StreamStart("msg_1", "claude-x"),
        ThinkingDelta("let me think"),
        TextDelta("Hel"),
        TextDelta("lo", 1),
        ToolCallDelta(0, "toolu_1", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"location":'),
        ToolCallDelta(0, None, None, '"Paris"}'),
        ToolCallDelta(1, "toolu_2", "get_time", "{}"),
        StreamEnd("tool_calls"),
        StreamEnd("length", 1),
        UsageEvent(
            Usage(input_tokens=10, output_tokens=4, cache_read_tokens=3, reasoning_tokens=2)
        ),
    ]
    assert _round_trip(events, include_usage=True) == events


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter"])
def test_chunk_renderer_finish_reasons_round_trip(reason: Any) -> None:
    events: list[StreamEvent] = [StreamStart("i", "claude-x"), StreamEnd(reason)]
    assert _round_trip(events, include_usage=False) == events


def test_chunk_renderer_drops_usage_unless_asked() -> None:
    events: list[StreamEvent] = [
        StreamStart("msg_1", "claude-x"),
        TextDelta("x"),
        UsageEvent(Usage(1, 1)),
    ]
    assert _round_trip(events, include_usage=False) == events[:2]


def test_chunk_renderer_chunk_shape() -> None:
    r = oc.ChunkRenderer("claude-x", include_usage=True, created=123)
    start = r.render(StreamStart("msg_1", "ignored"))
    assert start.startswith(b"data: ") and start.endswith(b"\n\n")
    body = orjson.loads(start[6:])
    assert body == {
        "id": "msg_1",
        "object": "chat.completion.chunk",
        "created": 123,
        "model": "claude-x",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    }
    # Later chunks reuse the id from StreamStart.
    assert orjson.loads(r.render(TextDelta("a"))[6:])["id"] == "msg_1"
    usage = orjson.loads(r.render(UsageEvent(Usage(5, 2)))[6:])
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] == 7
    assert r.render(ThinkingDelta("", signature="sig")) == b""
    assert r.done() == b"data: [DONE]\n\n"


def test_chunk_renderer_stream_error_is_an_in_band_error_event() -> None:
    r = oc.ChunkRenderer("m", include_usage=False)
    wire = r.render(StreamError("overloaded", 529, "overloaded_error"))
    assert orjson.loads(wire[6:]) == {
        "error": {"message": "overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    got, dec = _decode_sse(wire)
    assert got == [StreamError("overloaded")]
    assert not dec.done


def test_non_object_usage_details_are_ignored_not_fatal() -> None:
    # Some OpenAI-compatible servers send odd detail fields; the counts themselves still count.
    body = {"choices": [], "usage": {"prompt_tokens": 5, "prompt_tokens_details": ["x"]}}
    usage = oc.decode_response(body).usage
    assert usage is not None and usage.input_tokens == 5 and usage.cache_read_tokens == 0
