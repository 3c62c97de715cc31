"""Shared wire helpers: data URLs, tool-choice forms, arguments as objects."""

from __future__ import annotations

import pytest

from plano.core.model import Message, ToolCall
from plano.errors import InvalidRequest
from plano.wire.common import arguments_object, call_names, data_url, forced_tool, opt, tool_mode


def test_data_url() -> None:
    assert data_url("data:image/png;base64,AAAA") == ("image/png", "AAAA")
    assert data_url("data:;base64,AA") == ("application/octet-stream", "AA")
    assert data_url("data:text/plain,hello") is None
    assert data_url("https://x/y.png") is None


@pytest.mark.parametrize(
    "choice",
    [
        {"name": "f"},
        {"type": "function", "name": "f"},
        {"type": "function", "function": {"name": "f"}},
    ],
)
def test_forced_tool_in_every_form(choice: dict[str, object]) -> None:
    assert forced_tool(choice) == "f"  # type: ignore[arg-type]
    assert tool_mode(choice) == "required"  # type: ignore[arg-type]


def test_tool_mode_strings() -> None:
    assert [tool_mode(c) for c in ("auto", "none", "required", None)] == [
        "auto",
        "none",
        "required",
        None,
    ]


def test_arguments_object() -> None:
    assert arguments_object("", "a") == {} and arguments_object(' {"x": 1}', "a") == {"x": 1}
    for bad in ("[1]", "{nope", '"s"'):
        with pytest.raises(InvalidRequest) as exc:
            arguments_object(bad, "messages[1].tool_calls[0].arguments")
        assert exc.value.param == "messages[1].tool_calls[0].arguments"


def test_opt_rejects_bool_for_numbers() -> None:
    with pytest.raises(InvalidRequest):
        opt({"max_tokens": True}, "max_tokens", int, "an integer")
    assert opt({"flag": True}, "flag", bool, "a boolean") is True


def test_call_names() -> None:
    msgs = [Message("assistant", tool_calls=[ToolCall("a", "f", "{}"), ToolCall("", "g", "")])]
    assert call_names(msgs) == {"a": "f"}
