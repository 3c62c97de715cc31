"""Shared wire helpers: data URLs, tool-choice forms, arguments as objects."""

from __future__ import annotations

from typing import Any

import pytest

from plano.core.model import Message, ToolCall
from plano.errors import InvalidRequest
from plano.wire.common import (
    NUMBER,
    STRING,
    arguments_object,
    call_names,
    check,
    data_url,
    forced_tool,
    json_text,
    kind_of,
    need,
    opt,
    opt_enum,
    opt_int,
    opt_strings,
    string_map,
    tool_mode,
)


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


def _error(fn: Any, *args: Any, **kw: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        fn(*args, **kw)
    return info.value


def test_opt_names_the_nested_parameter() -> None:
    err = _error(opt, {"detail": 1}, "detail", str, "a string", "messages[0].image_url")
    assert err.param == "messages[0].image_url.detail"
    assert "'messages[0].image_url.detail'" in err.message and "got number" in err.message


def test_need_tells_a_missing_value_from_a_wrong_one() -> None:
    assert need({"a": "x"}, "a", STRING) == "x"
    for body in ({}, {"a": None}):
        err = _error(need, body, "a", STRING, "w")
        assert (err.param, err.code) == ("w.a", "missing_required_parameter")
    assert _error(need, {"a": 1}, "a", STRING).code == "invalid_type"


def test_opt_int_minimum_and_opt_enum() -> None:
    assert opt_int({"n": 2}, "n", minimum=1) == 2
    assert _error(opt_int, {"n": 0}, "n", minimum=1).code == "invalid_value"
    assert opt_enum({"e": "low"}, "e", frozenset(("low", "high"))) == "low"
    err = _error(opt_enum, {"e": "mid"}, "e", frozenset(("low", "high")))
    assert err.code == "invalid_value" and "high, low" in err.message
    # A value that is not hashable is a type error, never a TypeError from the set lookup.
    assert _error(opt_enum, {"e": ["low"]}, "e", frozenset(("low",))).code == "invalid_type"


def test_opt_strings_names_the_item() -> None:
    assert opt_strings({}, "s") == [] and opt_strings({"s": ["a"]}, "s") == ["a"]
    assert _error(opt_strings, {"s": ["a", 2]}, "s").param == "s[1]"


def test_check_applies_rules_to_present_values_only() -> None:
    rules = {"t": NUMBER, "e": frozenset(("a",))}
    check({"t": 1.5, "e": "a", "other": object()}, rules)
    check({"t": None}, rules)
    assert _error(check, {"t": True}, rules).param == "t"
    assert _error(check, {"e": "b"}, rules, "x").param == "x.e"


def test_kind_of() -> None:
    kinds = frozenset(("text", "image"))
    assert kind_of({"type": "text"}, "p", kinds, "part") == "text"
    assert _error(kind_of, "text", "p", kinds, "part").param == "p"
    assert _error(kind_of, {}, "p", kinds, "part").code == "missing_required_parameter"
    assert _error(kind_of, {"type": ["text"]}, "p", kinds, "part").code == "invalid_type"
    err = _error(kind_of, {"type": "x" * 1000}, "p", kinds, "part")
    assert (err.param, err.code) == ("p.type", "invalid_value")
    assert len(err.message) < 200  # the client's value is quoted only in part


def test_string_map() -> None:
    assert string_map({}) == {} and string_map({"metadata": {"a": "b"}}) == {"a": "b"}
    assert _error(string_map, {"metadata": {"a": {"b": "c"}}}).param == "metadata.a"
    assert _error(string_map, {"metadata": {"a": None}}).param == "metadata.a"


def test_json_text_refuses_what_orjson_cannot_encode() -> None:
    assert json_text({"a": [1]}, "w") == '{"a":[1]}'
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    err = _error(json_text, deep, "messages[0].input")
    assert (err.param, err.code) == ("messages[0].input", "invalid_value")
