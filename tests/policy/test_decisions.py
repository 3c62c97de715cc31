"""Decision rules' values read into verdicts, and verdicts applied to a request (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from plano.core.model import ChatRequest, Message, TextPart, Tool, ToolCall
from plano.policy.decisions import (
    DecisionError,
    apply_redactions,
    cap_tokens,
    parse_verdict,
    refused_key,
    strip_offered,
)


def verdict(**values: Any) -> Any:
    return parse_verdict("p", [("plano.x", values)])


def test_deny_forms() -> None:
    assert verdict(deny={"b", "a"}).denies == [("plano.x.deny", "a"), ("plano.x.deny", "b")]
    assert verdict(deny=True).denies == [("plano.x.deny", "denied by policy")]
    assert verdict(deny=set()).denies == [] and verdict(deny=False).denies == []
    assert verdict(deny=[{"message": "no"}, {"msg": "nope"}]).denies[1] == ("plano.x.deny", "nope")
    assert verdict(deny="just one").denies == [("plano.x.deny", "just one")]


@pytest.mark.parametrize(
    "values",
    [
        {"deny": {3}},
        {"route": 5},
        {"route": ""},
        {"route": {"a", "b"}},
        {"cap_max_tokens": 0},
        {"cap_max_tokens": "100"},
        {"cap_max_tokens": True},
        {"strip_tools": [1]},
        {"redact": {"pattern": "("}},
        {"redact": [{"pattern": "x", "messages": ["0"]}]},
        {"redact": [7]},
    ],
)
def test_values_of_the_wrong_shape_are_the_policys_error(values: dict[str, Any]) -> None:
    with pytest.raises(DecisionError):
        verdict(**values)


def test_route_cap_and_strips() -> None:
    v = verdict(
        route="m",
        cap_max_tokens=100.0,
        strip_tools={"a"},
        strip_tool_calls=[{"name": "b"}, {"id": "call_9"}, "c"],
    )
    assert v.route == ("plano.x.route", "m")
    assert v.cap == ("plano.x.cap_max_tokens", 100)
    assert v.strip_tools == {"a": "plano.x.strip_tools"}
    assert set(v.strip_tool_calls) == {"b", "call_9", "c"}
    assert v.acts and not verdict().acts


def test_packages_combine_smallest_cap_first_route() -> None:
    v = parse_verdict(
        "p",
        [
            ("plano.a", {"cap_max_tokens": 500, "route": "first", "deny": {"x"}}),
            ("plano.b", {"cap_max_tokens": 200, "route": "second", "deny": {"y"}}),
        ],
    )
    assert v.cap == ("plano.b.cap_max_tokens", 200)
    assert v.route == ("plano.a.route", "first")
    assert [m for _, m in v.denies] == ["x", "y"]


def test_redactions_by_index_and_role() -> None:
    req = ChatRequest(
        "m",
        [
            Message("system", [TextPart("card 4111 1111")]),
            Message("user", [TextPart("card 4111 1111 and 4222")]),
            Message("user", [TextPart("no digits")]),
        ],
    )
    v = verdict(redact=[{"pattern": r"\d{4}", "roles": ["user"], "replacement": "#"}])
    assert apply_redactions(req, v.redactions) == (3, 1)
    assert req.messages[0].content[0].text == "card 4111 1111"  # type: ignore[union-attr]
    assert req.messages[1].content[0].text == "card # # and #"  # type: ignore[union-attr]
    v = verdict(redact={"pattern": "card", "messages": [0]})
    assert apply_redactions(req, v.redactions) == (1, 1)
    assert req.messages[0].content[0].text == "[REDACTED] 4111 1111"  # type: ignore[union-attr]
    assert apply_redactions(req, verdict(redact="nothing-here").redactions) == (0, 0)


def test_cap_lowers_only() -> None:
    req = ChatRequest("m", [], max_tokens=50)
    assert cap_tokens(req, 100) is None and req.max_tokens == 50
    assert cap_tokens(req, 20) == 50 and req.max_tokens == 20
    unset = ChatRequest("m", [])
    assert cap_tokens(unset, 20) == 0 and unset.max_tokens == 20


def test_strip_offered_resets_a_choice_that_named_a_stripped_tool() -> None:
    req = ChatRequest("m", [], tools=[Tool("a"), Tool("b")], tool_choice={"name": "b"})
    assert strip_offered(req, ["b", "zzz"]) == ["b"]
    assert [t.name for t in req.tools] == ["a"] and req.tool_choice is None
    req = ChatRequest("m", [], tools=[Tool("a")], tool_choice="required", parallel_tool_calls=True)
    strip_offered(req, ["a"])
    assert req.tools == [] and req.tool_choice is None and req.parallel_tool_calls is None
    assert strip_offered(req, ["a"]) == []


def test_refused_key_by_name_then_id() -> None:
    call = ToolCall("call_1", "db_write", "{}")
    assert refused_key(call, {"db_write"}) == "db_write"
    assert refused_key(call, {"call_1"}) == "call_1"
    assert refused_key(call, {"other"}) is None
