"""plano.wire.anthropic_messages.parse_request: every field of the Messages shape is checked,
and a malformed body is a 400 naming the parameter (see also ``test_request_robustness``)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wire.conftest import deep, refused

from plano.core.model import Message, TextPart
from plano.errors import InvalidRequest
from plano.wire.anthropic_messages import parse_request


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(kw)
    return body


def _user(*blocks: Any) -> dict[str, Any]:
    return _body(messages=[{"role": "user", "content": list(blocks)}])


def _assistant(*blocks: Any) -> dict[str, Any]:
    return _body(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": list(blocks)},
        ]
    )


def _invalid(body: Any) -> InvalidRequest:
    return refused(parse_request, body)


_RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}


# ---------------------------------------------------------------- system


@pytest.mark.parametrize(
    ("system", "param"),
    [
        ({}, "system"),
        ({"type": "text", "text": "x"}, "system"),
        (5, "system"),
        (["be brief"], "system[0]"),
        ([{"type": "image", "source": {"type": "url", "url": "u"}}], "system[0].type"),
        ([{"type": "text"}], "system[0].text"),
    ],
)
def test_system_is_a_string_or_text_blocks(system: Any, param: str) -> None:
    assert _invalid(_body(system=system)).param == param


def test_empty_system_prompts_add_no_message() -> None:
    assert [m.role for m in parse_request(_body(system="")).messages] == ["user"]
    assert [m.role for m in parse_request(_body(system=[])).messages] == ["user"]
    req = parse_request(_body(system=[{"type": "text", "text": "s"}]))
    assert req.messages[0] == Message("system", [TextPart("s")])


# ---------------------------------------------------------------- messages and blocks


@pytest.mark.parametrize("role", [["user"], {"r": 1}, "system", None])
def test_a_role_of_the_wrong_type_or_value_is_a_400(role: Any) -> None:
    err = _invalid(_body(messages=[{"role": role, "content": "x"}]))
    assert (err.param, err.code) == ("messages[0].role", "invalid_value")


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_content_is_required(role: str) -> None:
    err = _invalid(_body(messages=[{"role": role}]))
    assert (err.param, err.code) == ("messages[0].content", "missing_required_parameter")
    assert _invalid(_body(messages=[{"role": role, "content": {}}])).param == "messages[0].content"


@pytest.mark.parametrize("build", [_user, _assistant])
@pytest.mark.parametrize("kind", ["banana", "input_text", "image_url"])
def test_unknown_block_types_are_refused(build: Any, kind: str) -> None:
    err = _invalid(build({"type": kind, "text": "x"}))
    assert err.param is not None and err.param.endswith("content[0].type")
    assert err.code == "invalid_value"


def test_unknown_block_types_in_a_tool_result_are_refused() -> None:
    result = {**_RESULT, "content": [{"type": "tool_use", "id": "x", "name": "f", "input": {}}]}
    assert _invalid(_user(result)).param == "messages[0].content[0].content[0].type"


@pytest.mark.parametrize(
    "block",
    [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
        {"type": "search_result", "source": "s", "title": "t", "content": []},
        {"type": "container_upload", "file_id": "f"},
        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
        {"type": "web_search_tool_result", "tool_use_id": "s", "content": []},
        {"type": "mcp_tool_use", "id": "m", "name": "x", "server_name": "s", "input": {}},
    ],
)
def test_documented_blocks_still_pass_as_opaque(block: dict[str, Any]) -> None:
    req = parse_request(_user(block, {"type": "text", "text": "go"}))
    assert req.opaque == [f"'{block['type']}' content block"]
    assert req.messages[-1].text() == "go"


def test_an_error_names_the_blocks_own_index() -> None:
    # Blocks after a tool result are parsed on their own; the index must stay the client's.
    assert _invalid(_user(_RESULT, "x")).param == "messages[0].content[1]"
    assert _invalid(_assistant({"type": "text", "text": "a"}, {"type": "x"})).param == (
        "messages[1].content[1].type"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_user({"type": "text", "text": 1}), "messages[0].content[0].text"),
        (
            _user({"type": "text", "text": "a", "cache_control": "x"}),
            "messages[0].content[0].cache_control",
        ),
        (_user({"type": "text", "text": "a", "citations": {}}), "messages[0].content[0].citations"),
        (_user({"type": "image", "source": {"type": "ftp"}}), "messages[0].content[0].source.type"),
        (
            _user({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}),
            "messages[0].content[0].source.data",
        ),
        (
            _user({"type": "image", "source": {"type": "url", "url": 1}}),
            "messages[0].content[0].source.url",
        ),
        (_user({**_RESULT, "tool_use_id": ["t1"]}), "messages[0].content[0].tool_use_id"),
        (_user({**_RESULT, "is_error": "yes"}), "messages[0].content[0].is_error"),
        (_user({**_RESULT, "content": 5}), "messages[0].content[0].content"),
        (_assistant({"type": "thinking", "thinking": {"t": 1}}), "messages[1].content[0].thinking"),
        (
            _assistant({"type": "thinking", "thinking": "t", "signature": 1}),
            "messages[1].content[0].signature",
        ),
        (_assistant({"type": "redacted_thinking", "data": None}), "messages[1].content[0].data"),
        (_assistant({"type": "tool_use", "id": 1, "name": "f"}), "messages[1].content[0].id"),
        (
            _assistant({"type": "tool_use", "id": "t", "name": "f", "input": [1]}),
            "messages[1].content[0].input",
        ),
    ],
)
def test_block_fields_are_type_checked(body: dict[str, Any], param: str) -> None:
    assert _invalid(body).param == param


def test_deeply_nested_tool_input_is_a_400() -> None:
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {"x": deep(300)}}
    assert _invalid(_assistant(block)).param == "messages[1].content[0].input"


def test_an_image_by_file_id_is_opaque() -> None:
    req = parse_request(_user({"type": "image", "source": {"type": "file", "file_id": "f"}}))
    assert req.opaque == ["image source 'file'"]


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({"user_id": {"id": 1}}, "metadata.user_id"),
        ({"user_id": deep(500)}, "metadata.user_id"),
        ({"team": "a"}, "metadata"),
        ({"user_id": "u", "extra": deep(500)}, "metadata"),
        ("u", "metadata"),
    ],
)
def test_metadata_has_only_a_string_user_id(metadata: Any, param: str) -> None:
    assert _invalid(_body(metadata=metadata)).param == param


def test_metadata_user_id_is_the_user() -> None:
    assert parse_request(_body(metadata={"user_id": "u-1"})).user == "u-1"
    assert parse_request(_body(metadata={"user_id": None})).user is None


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("patch", "param", "code"),
    [
        ({"max_tokens": 0}, "max_tokens", "invalid_value"),
        ({"max_tokens": True}, "max_tokens", "invalid_type"),
        ({"stream": "yes"}, "stream", "invalid_type"),
        ({"temperature": "1"}, "temperature", "invalid_type"),
        ({"top_p": [1]}, "top_p", "invalid_type"),
        ({"top_k": 1.5}, "top_k", "invalid_type"),
        ({"stop_sequences": "END"}, "stop_sequences", "invalid_type"),
        ({"stop_sequences": ["a", 1]}, "stop_sequences[1]", "invalid_type"),
        ({"service_tier": 1}, "service_tier", "invalid_type"),
        ({"container": 5}, "container", "invalid_type"),
        ({"cache_control": "ephemeral"}, "cache_control", "invalid_type"),
        ({"output_config": "x"}, "output_config", "invalid_type"),
        ({"output_config": {"effort": "extreme"}}, "output_config.effort", "invalid_value"),
        ({"output_config": {"format": "json"}}, "output_config.format", "invalid_type"),
        ({"thinking": "on"}, "thinking", "invalid_type"),
        ({"thinking": {"type": "sometimes"}}, "thinking.type", "invalid_value"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens", "missing_required_parameter"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": "2048"}},
            "thinking.budget_tokens",
            "invalid_type",
        ),
        ({"tool_choice": "auto"}, "tool_choice", "invalid_type"),
        ({"tool_choice": {"type": ["auto"]}}, "tool_choice.type", "invalid_type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name", "missing_required_parameter"),
        (
            {"tool_choice": {"type": "any", "disable_parallel_tool_use": "yes"}},
            "tool_choice.disable_parallel_tool_use",
            "invalid_type",
        ),
        ({"tools": [{"input_schema": {}}]}, "tools[0].name", "missing_required_parameter"),
        ({"tools": [{"name": "f", "input_schema": "x"}]}, "tools[0].input_schema", "invalid_type"),
        ({"tools": [{"name": "f", "description": 1}]}, "tools[0].description", "invalid_type"),
        ({"tools": [{"name": "f", "cache_control": 1}]}, "tools[0].cache_control", "invalid_type"),
        ({"tools": [{"type": 1, "name": "f"}]}, "tools[0].type", "invalid_type"),
    ],
)
def test_parameters_are_type_checked(patch: dict[str, Any], param: str, code: str) -> None:
    err = _invalid(_body(**patch))
    assert (err.param, err.code) == (param, code)
    assert f"'{param}'" in err.message


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": 2048, "display": "summarized"},
        {"type": "disabled"},
        {"type": "adaptive"},
    ],
)
def test_thinking_forms_pass_verbatim(thinking: dict[str, Any]) -> None:
    assert parse_request(_body(thinking=thinking)).thinking == thinking


def test_server_tools_and_toolsets_without_a_name_are_opaque() -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "mcp_toolset", "mcp_server_name": "docs"},
    ]
    req = parse_request(_body(tools=tools))
    assert req.tools == []
    assert req.opaque == ["server tool 'web_search_20250305'", "server tool 'mcp_toolset'"]
