"""plano.wire.openai_chat.parse_request: every field of the chat shape is checked, and a
malformed body is a 400 naming the parameter (see also ``test_request_robustness``)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wire.conftest import deep, refused

from plano.core.model import TextPart, ToolCall
from plano.errors import InvalidRequest
from plano.wire import openai_chat as oc


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    body.update(kw)
    return body


def _messages(*messages: dict[str, Any]) -> dict[str, Any]:
    return _body(messages=list(messages))


def _invalid(body: Any) -> InvalidRequest:
    return refused(oc.parse_request, body)


_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


# ---------------------------------------------------------------- content is required


@pytest.mark.parametrize("role", ["system", "developer", "user", "tool"])
@pytest.mark.parametrize("content", ["absent", None])
def test_content_is_required_for_every_role_but_assistant(role: str, content: Any) -> None:
    msg: dict[str, Any] = {"role": role, "tool_call_id": "c1"}
    if content != "absent":
        msg["content"] = content
    err = _invalid(_messages({"role": "user", "content": "q"}, msg))
    assert (err.param, err.code, err.status) == (
        "messages[1].content",
        "missing_required_parameter",
        400,
    )


def test_an_assistant_message_needs_content_or_something_in_its_place() -> None:
    assert _invalid(_messages({"role": "assistant"})).param == "messages[0].content"
    assert _invalid(_messages({"role": "assistant", "tool_calls": []})).param == (
        "messages[0].content"
    )


@pytest.mark.parametrize(
    "instead",
    [
        {"tool_calls": [_CALL]},
        {"refusal": "I can't."},
        {"audio": {"id": "audio_1"}},
        {"function_call": {"name": "f", "arguments": "{}"}},
    ],
)
def test_an_assistant_message_may_omit_content_when_it_says_something_else(
    instead: dict[str, Any],
) -> None:
    req = oc.parse_request(_messages({"role": "assistant", **instead}))
    assert req.messages[0].content == []


def test_assistant_audio_and_function_call_reach_only_openai_upstreams() -> None:
    audio = oc.parse_request(_messages({"role": "assistant", "audio": {"id": "a"}}))
    assert audio.opaque == ["assistant audio"]
    call = {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}
    assert oc.parse_request(_messages(call)).opaque == ["assistant function_call"]


# ---------------------------------------------------------------- content part types


@pytest.mark.parametrize("kind", ["banana", "input_text", "image", "tool_result"])
def test_unknown_content_part_types_are_refused(kind: str) -> None:
    err = _invalid(_messages({"role": "user", "content": [{"type": kind, "text": "x"}]}))
    assert err.param == "messages[0].content[0].type"
    assert err.code == "invalid_value"
    assert kind in err.message


@pytest.mark.parametrize("kind", [5, ["text"], {"t": 1}])
def test_a_content_part_type_must_be_a_string(kind: Any) -> None:
    err = _invalid(_messages({"role": "user", "content": [{"type": kind, "text": "x"}]}))
    assert err.param == "messages[0].content[0].type"
    assert err.code == "invalid_type"
    missing = _invalid(_messages({"role": "user", "content": [{"text": "x"}]}))
    assert (missing.param, missing.code) == (
        "messages[0].content[0].type",
        "missing_required_parameter",
    )


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "refusal", "refusal": "no"},
    ],
)
def test_the_shapes_other_part_types_still_pass_as_opaque(part: dict[str, Any]) -> None:
    req = oc.parse_request(_messages({"role": "user", "content": [part]}))
    assert req.opaque == [f"'{part['type']}' content part"]
    assert req.messages[0].content == []


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_audio"}, "messages[0].content[0].input_audio"),
        ({"type": "input_audio", "input_audio": "AA"}, "messages[0].content[0].input_audio"),
        ({"type": "file", "file": ["f"]}, "messages[0].content[0].file"),
        ({"type": "refusal", "refusal": {"r": 1}}, "messages[0].content[0].refusal"),
        (
            {"type": "text", "text": "a", "cache_control": "x"},
            "messages[0].content[0].cache_control",
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": 1}},
            "messages[0].content[0].image_url.detail",
        ),
    ],
)
def test_malformed_parts_name_their_field(part: dict[str, Any], param: str) -> None:
    assert _invalid(_messages({"role": "user", "content": [part]})).param == param


# ---------------------------------------------------------------- values used as keys


@pytest.mark.parametrize("role", [["user"], {"r": "user"}, 1, None])
def test_a_role_of_the_wrong_type_is_a_400_not_a_crash(role: Any) -> None:
    err = _invalid(_messages({"role": role, "content": "x"}))
    assert err.param == "messages[0].role"
    assert err.code == "invalid_value"


@pytest.mark.parametrize(
    ("msg", "param"),
    [
        ({"role": "tool", "tool_call_id": ["c1"], "content": "x"}, "messages[0].tool_call_id"),
        ({"role": "tool", "tool_call_id": 7, "content": "x"}, "messages[0].tool_call_id"),
        ({"role": "user", "name": ["n"], "content": "x"}, "messages[0].name"),
        ({"role": "assistant", "content": "a", "refusal": 1}, "messages[0].refusal"),
        ({"role": "assistant", "audio": {"id": 1}}, "messages[0].audio.id"),
        (
            {"role": "assistant", "function_call": {"name": "f", "arguments": {}}},
            "messages[0].function_call.arguments",
        ),
        (
            {"role": "assistant", "tool_calls": [{**_CALL, "id": ["c1"]}]},
            "messages[0].tool_calls[0].id",
        ),
        (
            {"role": "assistant", "tool_calls": [{**_CALL, "type": "banana"}]},
            "messages[0].tool_calls[0].type",
        ),
        ({"role": "assistant", "tool_calls": {"id": "c1"}}, "messages[0].tool_calls"),
        ({"role": "assistant", "content": "a", "tool_calls": ["x"]}, "messages[0].tool_calls[0]"),
    ],
)
def test_message_fields_are_type_checked(msg: dict[str, Any], param: str) -> None:
    assert _invalid(_messages(msg)).param == param


def test_a_tool_message_keeps_its_call_id_and_may_omit_it() -> None:
    req = oc.parse_request(_messages({"role": "tool", "tool_call_id": "c1", "content": "x"}))
    assert req.messages[0].tool_call_id == "c1"
    # OpenAI-compatible servers accept a result without an id; translations pair by order.
    assert (
        oc.parse_request(_messages({"role": "tool", "content": "x"})).messages[0].tool_call_id
        is None
    )


def test_custom_tool_calls_reach_only_openai_upstreams() -> None:
    call = {"id": "c", "type": "custom", "custom": {"name": "grep", "input": "x"}}
    req = oc.parse_request(_messages({"role": "assistant", "tool_calls": [call]}))
    assert req.opaque == ["custom tool call"] and req.messages[0].tool_calls == []


# ---------------------------------------------------------------- deep values


def test_deeply_nested_tool_call_arguments_are_a_400() -> None:
    fn = {"name": "f", "arguments": deep(300)}
    msg = {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": fn}]}
    err = _invalid(_messages(msg))
    assert err.param == "messages[0].tool_calls[0].function.arguments"


def test_arguments_given_as_an_object_are_still_kept_as_json_text() -> None:
    fn = {"name": "f", "arguments": {"a": [1, 2]}}
    req = oc.parse_request(
        _messages({"role": "assistant", "tool_calls": [{"id": "c", "function": fn}]})
    )
    assert req.messages[0].tool_calls == [ToolCall("c", "f", '{"a":[1,2]}')]


# ---------------------------------------------------------------- metadata


def test_metadata_deeply_nested_is_a_400() -> None:
    err = _invalid(_body(metadata={"k": deep(500)}))
    assert err.param == "metadata.k"
    assert err.code == "invalid_type"


@pytest.mark.parametrize("value", [{"a": "b"}, ["a"], None])
def test_metadata_values_must_be_strings(value: Any) -> None:
    assert _invalid(_body(metadata={"k": value})).param == "metadata.k"


def test_metadata_limits() -> None:
    assert _invalid(_body(metadata={str(i): "v" for i in range(17)})).param == "metadata"
    assert _invalid(_body(metadata={"k" * 65: "v"})).param == "metadata"
    assert _invalid(_body(metadata={"k": "v" * 513})).param == "metadata.k"
    req = oc.parse_request(
        _body(metadata={**{str(i): "v" for i in range(15)}, "k" * 64: "v" * 512})
    )
    assert len(req.metadata) == 16


def test_metadata_numbers_and_booleans_are_stringified_as_before() -> None:
    assert oc.parse_request(_body(metadata={"a": 2, "b": 1.5, "c": True})).metadata == {
        "a": "2",
        "b": "1.5",
        "c": "True",
    }


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("patch", "param", "code"),
    [
        ({"frequency_penalty": "1"}, "frequency_penalty", "invalid_type"),
        ({"presence_penalty": True}, "presence_penalty", "invalid_type"),
        ({"logprobs": "yes"}, "logprobs", "invalid_type"),
        ({"top_logprobs": 1.5}, "top_logprobs", "invalid_type"),
        ({"n": 0}, "n", "invalid_value"),
        ({"n": True}, "n", "invalid_type"),
        ({"seed": "1"}, "seed", "invalid_type"),
        ({"logit_bias": [1]}, "logit_bias", "invalid_type"),
        ({"modalities": "audio"}, "modalities", "invalid_type"),
        ({"modalities": [1]}, "modalities[0]", "invalid_type"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort", "invalid_value"),
        ({"reasoning_effort": ["low"]}, "reasoning_effort", "invalid_type"),
        ({"verbosity": "loud"}, "verbosity", "invalid_value"),
        ({"service_tier": 1}, "service_tier", "invalid_type"),
        ({"store": "no"}, "store", "invalid_type"),
        ({"audio": "alloy"}, "audio", "invalid_type"),
        ({"prediction": "x"}, "prediction", "invalid_type"),
        ({"functions": {}}, "functions", "invalid_type"),
        ({"function_call": 1}, "function_call", "invalid_type"),
        ({"web_search_options": []}, "web_search_options", "invalid_type"),
        ({"safety_identifier": 1}, "safety_identifier", "invalid_type"),
        ({"prompt_cache_key": {}}, "prompt_cache_key", "invalid_type"),
        (
            {"stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
            "invalid_type",
        ),
        ({"response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
        ({"response_format": {}}, "response_format.type", "missing_required_parameter"),
        ({"response_format": {"type": 1}}, "response_format.type", "invalid_type"),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "missing_required_parameter",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": "x"},
                }
            },
            "response_format.json_schema.schema",
            "invalid_type",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"tool_choice": {"type": "banana"}}, "tool_choice.type", "invalid_value"),
        (
            {"tool_choice": {"type": "function"}},
            "tool_choice.function",
            "missing_required_parameter",
        ),
        (
            {"tool_choice": {"type": "function", "function": {"name": 1}}},
            "tool_choice.function.name",
            "invalid_type",
        ),
        (
            {"tools": [{"type": "banana", "function": {"name": "f"}}]},
            "tools[0].type",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]},
            "tools[0].function.description",
            "invalid_type",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
            "tools[0].function.strict",
            "invalid_type",
        ),
        (
            {"tools": [{"type": "custom", "custom": {}}]},
            "tools[0].custom.name",
            "missing_required_parameter",
        ),
    ],
)
def test_parameters_are_type_checked(patch: dict[str, Any], param: str, code: str) -> None:
    err = _invalid(_body(**patch))
    assert (err.param, err.code) == (param, code)
    assert f"'{param}'" in err.message


def test_valid_values_of_passed_parameters_pass_and_stay_in_extra() -> None:
    params = {
        "reasoning_effort": "default",  # Groq's
        "service_tier": "on_demand",  # Groq's
        "verbosity": "low",
        "n": 2,
        "modalities": ["text", "audio"],
        "logit_bias": {"50256": -100},
        "seed": 1,
        "provider_specific": {"anything": [1, {"goes": True}]},
    }
    assert oc.parse_request(_body(**params)).extra == params


def test_custom_tools_and_other_tool_choices_reach_only_openai_upstreams() -> None:
    req = oc.parse_request(
        _body(
            tools=[{"type": "custom", "custom": {"name": "grep"}}],
            tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        )
    )
    assert req.tools == [] and req.tool_choice is None
    assert req.opaque == ["custom tool", "tool_choice 'allowed_tools'"]


def test_a_named_function_choice_is_kept() -> None:
    choice = {"type": "function", "function": {"name": "f"}}
    assert oc.parse_request(_body(tool_choice=choice)).tool_choice == choice
    assert oc.parse_request(_body(tool_choice="required")).tool_choice == "required"


def test_a_text_part_stays_a_text_part() -> None:
    req = oc.parse_request(
        _messages({"role": "system", "content": [{"type": "text", "text": "s"}]})
    )
    assert req.messages[0].content == [TextPart("s")]
