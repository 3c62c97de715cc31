"""plano.wire.openai_responses.parse_request: every field of the Responses shape is checked,
and a malformed body is a 400 naming the parameter (see also ``test_request_robustness``)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wire.conftest import deep, refused

from plano.core.model import ImagePart, TextPart, ThinkingPart
from plano.errors import InvalidRequest
from plano.wire.openai_responses import parse_items, parse_request


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4.1", "input": "hi"}
    body.update(kw)
    return body


def _items(*items: Any) -> dict[str, Any]:
    return _body(input=list(items))


def _invalid(body: Any) -> InvalidRequest:
    return refused(parse_request, body)


# ---------------------------------------------------------------- values used as keys


@pytest.mark.parametrize("role", [["user"], {"r": 1}, "tool", None])
def test_a_role_of_the_wrong_type_or_value_is_a_400(role: Any) -> None:
    err = _invalid(_items({"type": "message", "role": role, "content": "x"}))
    assert (err.param, err.code) == ("input[0].role", "invalid_value")


@pytest.mark.parametrize("kind", [["input_text"], {"t": 1}, 5])
def test_a_part_type_of_the_wrong_type_is_a_400(kind: Any) -> None:
    err = _invalid(_items({"role": "user", "content": [{"type": kind, "text": "x"}]}))
    assert (err.param, err.code) == ("input[0].content[0].type", "invalid_type")


@pytest.mark.parametrize("kind", [["message"], {"t": 1}, 5])
def test_an_item_type_of_the_wrong_type_is_a_400(kind: Any) -> None:
    err = _invalid(_items({"type": kind, "role": "user", "content": "x"}))
    assert (err.param, err.code) == ("input[0].type", "invalid_type")


# ---------------------------------------------------------------- part and item types


@pytest.mark.parametrize("kind", ["banana", "image_url", "summary_text"])
def test_unknown_part_types_are_refused(kind: str) -> None:
    err = _invalid(_items({"role": "user", "content": [{"type": kind, "text": "x"}]}))
    assert (err.param, err.code) == ("input[0].content[0].type", "invalid_value")


def test_unknown_item_types_are_refused() -> None:
    err = _invalid(_items({"type": "banana"}))
    assert (err.param, err.code) == ("input[0].type", "invalid_value")
    err = _invalid(_items({"content": "no role, no id"}))
    assert (err.param, err.code) == ("input[0].type", "missing_required_parameter")


def test_a_function_output_holds_only_input_parts() -> None:
    item = {"type": "function_call_output", "call_id": "c", "output": [{"type": "output_text"}]}
    assert _invalid(_items(item)).param == "input[0].output[0].type"


@pytest.mark.parametrize(
    ("part", "note"),
    [
        ({"type": "input_file", "file_id": "file-1"}, "'input_file' content part"),
        ({"type": "input_audio", "input_audio": {"data": "AA"}}, "'input_audio' content part"),
        (
            {"type": "input_image", "file_id": "file-1", "detail": "auto"},
            "'input_image' content part",
        ),
    ],
)
def test_the_shapes_other_parts_still_pass_as_opaque(part: dict[str, Any], note: str) -> None:
    req = parse_request(
        _items({"role": "user", "content": [part, {"type": "input_text", "text": "q"}]})
    )
    assert req.opaque == [note] and req.messages[0].text() == "q"


@pytest.mark.parametrize(
    "item",
    [
        {"id": "msg_1"},
        {"type": "item_reference", "id": "msg_1"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "mcp_call", "id": "m", "name": "n", "arguments": "{}", "server_label": "s"},
        {"type": "custom_tool_call", "call_id": "c", "name": "grep", "input": "x"},
    ],
)
def test_the_apis_other_items_still_pass_as_opaque(item: dict[str, Any]) -> None:
    req = parse_request(_items({"role": "user", "content": "q"}, item))
    kind = item.get("type", "item_reference")
    assert req.opaque == [f"'{kind}' input item"]


def test_known_parts_become_canonical() -> None:
    content = [
        {"type": "input_text", "text": "a"},
        {"type": "text", "text": "b"},  # not the API's; accepted as it always was
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
    ]
    req = parse_request(_items({"role": "user", "content": content}))
    assert req.messages[0].content == [
        TextPart("a"),
        TextPart("b"),
        ImagePart("https://x/y.png", "low"),
    ]


# ---------------------------------------------------------------- item fields


@pytest.mark.parametrize(
    ("item", "param", "code"),
    [
        ({"role": "user"}, "input[0].content", "missing_required_parameter"),
        ({"role": "user", "content": {}}, "input[0].content", "invalid_type"),
        (
            {"role": "user", "content": [{"type": "input_text"}]},
            "input[0].content[0].text",
            "missing_required_parameter",
        ),
        (
            {"role": "user", "content": [{"type": "input_text", "text": 1}]},
            "input[0].content[0].text",
            "invalid_type",
        ),
        (
            {"role": "assistant", "content": [{"type": "refusal"}]},
            "input[0].content[0].refusal",
            "missing_required_parameter",
        ),
        (
            {"role": "user", "content": [{"type": "input_image", "image_url": 1}]},
            "input[0].content[0].image_url",
            "invalid_type",
        ),
        (
            {"role": "user", "content": [{"type": "input_image", "image_url": "u", "detail": 1}]},
            "input[0].content[0].detail",
            "invalid_type",
        ),
        (
            {"type": "function_call", "call_id": ["c"], "name": "f"},
            "input[0].call_id",
            "invalid_type",
        ),
        ({"type": "function_call", "call_id": "c"}, "input[0].name", "missing_required_parameter"),
        (
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"a": 1}},
            "input[0].arguments",
            "invalid_type",
        ),
        (
            {"type": "function_call_output", "call_id": "c"},
            "input[0].output",
            "missing_required_parameter",
        ),
        (
            {"type": "function_call_output", "call_id": "c", "output": 5},
            "input[0].output",
            "invalid_type",
        ),
        ({"type": "reasoning", "summary": "s"}, "input[0].summary", "invalid_type"),
        ({"type": "reasoning", "summary": ["s"]}, "input[0].summary[0]", "invalid_type"),
        (
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": 1}]},
            "input[0].summary[0].text",
            "invalid_type",
        ),
        (
            {"type": "reasoning", "summary": [], "encrypted_content": 1},
            "input[0].encrypted_content",
            "invalid_type",
        ),
    ],
)
def test_item_fields_are_type_checked(item: dict[str, Any], param: str, code: str) -> None:
    err = _invalid(_items(item))
    assert (err.param, err.code) == (param, code)


def test_a_reasoning_item_keeps_its_summary_and_signature() -> None:
    item = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
        "encrypted_content": "sig",
    }
    (msg,) = parse_request(_items(item)).messages
    assert msg.content == [ThinkingPart("a b", "sig")]


def test_stored_history_is_checked_under_its_own_name() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_items([{"role": ["user"], "content": "x"}], [], "previous_response")
    assert info.value.param == "previous_response[0].role"


# ---------------------------------------------------------------- metadata


def test_metadata_deeply_nested_is_a_400() -> None:
    assert _invalid(_body(metadata={"k": deep(500)})).param == "metadata.k"


def test_metadata_limits() -> None:
    assert _invalid(_body(metadata={str(i): "v" for i in range(17)})).param == "metadata"
    assert _invalid(_body(metadata={"k": "v" * 513})).param == "metadata.k"
    assert parse_request(_body(metadata={"a": "b", "n": 1})).metadata == {"a": "b", "n": "1"}


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("patch", "param", "code"),
    [
        ({"include": "reasoning"}, "include", "invalid_type"),
        ({"include": [1]}, "include[0]", "invalid_type"),
        ({"max_output_tokens": 0}, "max_output_tokens", "invalid_value"),
        ({"max_tool_calls": "3"}, "max_tool_calls", "invalid_type"),
        ({"top_logprobs": True}, "top_logprobs", "invalid_type"),
        ({"reasoning": "high"}, "reasoning", "invalid_type"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort", "invalid_value"),
        ({"reasoning": {"summary": 1}}, "reasoning.summary", "invalid_type"),
        ({"truncation": "sometimes"}, "truncation", "invalid_value"),
        ({"service_tier": 1}, "service_tier", "invalid_type"),
        ({"prompt_cache_key": 1}, "prompt_cache_key", "invalid_type"),
        ({"safety_identifier": []}, "safety_identifier", "invalid_type"),
        ({"prompt": "p"}, "prompt", "invalid_type"),
        ({"stream_options": True}, "stream_options", "invalid_type"),
        ({"text": "json"}, "text", "invalid_type"),
        ({"text": {"format": "json"}}, "text.format", "invalid_type"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type", "invalid_value"),
        ({"text": {"verbosity": 1}}, "text.verbosity", "invalid_type"),
        (
            {"text": {"format": {"type": "json_schema", "name": "a", "schema": "x"}}},
            "text.format.schema",
            "invalid_type",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.name", "missing_required_parameter"),
        ({"tool_choice": {"type": ["function"]}}, "tool_choice.type", "invalid_type"),
        ({"tools": [{"name": "f"}]}, "tools[0].type", "missing_required_parameter"),
        (
            {"tools": [{"type": "function", "name": "f", "description": 1}]},
            "tools[0].description",
            "invalid_type",
        ),
        (
            {"tools": [{"type": "function", "name": "f", "strict": "yes"}]},
            "tools[0].strict",
            "invalid_type",
        ),
    ],
)
def test_parameters_are_type_checked(patch: dict[str, Any], param: str, code: str) -> None:
    err = _invalid(_body(**patch))
    assert (err.param, err.code) == (param, code)
    assert f"'{param}'" in err.message


def test_json_object_and_text_formats() -> None:
    fmt = parse_request(_body(text={"format": {"type": "json_object"}})).response_format
    assert fmt == {"type": "json_object"}
    assert parse_request(_body(text={"format": {"type": "text"}})).response_format is None


def test_other_tool_choices_are_opaque() -> None:
    choice = {"type": "allowed_tools", "mode": "auto", "tools": []}
    req = parse_request(_body(tool_choice=choice))
    assert req.tool_choice is None and req.opaque == ["tool_choice 'allowed_tools'"]
