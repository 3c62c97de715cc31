"""tool_rules: who a rule applies to, allow and deny globs, block over strip (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config.policies import ToolRule
from plano.pipeline.context import Principal, RequestContext
from plano.policy.tools import ToolRules, Who


def who(**kw: Any) -> Who:
    base: dict[str, Any] = {
        "key": "k1",
        "user": "alice",
        "team": "support",
        "tenant": "acme",
        "tags": frozenset({"beta"}),
        "agent": None,
        "listener": "llm",
    }
    return Who(**{**base, **kw})


def rules(*specs: dict[str, Any]) -> ToolRules:
    return ToolRules([ToolRule.model_validate(s) for s in specs])


def test_deny_globs_and_allow_lists() -> None:
    r = rules({"deny": ["db_*"]}, {"allow": ["get_*", "db_read"], "action": "block"})
    found = r.for_request(who(), "offered")
    assert ToolRules.refusal(found, "db_write") is not None
    assert ToolRules.refusal(found, "db_read") is not None  # the first rule strips it
    assert ToolRules.refusal(found, "get_weather") is None
    shell = ToolRules.refusal(found, "shell")
    assert shell is not None and shell.action == "block" and shell.rule == "tool_rules[1]"


def test_block_wins_over_strip() -> None:
    r = rules({"deny": ["x"], "name": "soft"}, {"deny": ["x"], "action": "block", "name": "hard"})
    refusal = ToolRules.refusal(r.for_request(who(), "called"), "x")
    assert refusal is not None and (refusal.rule, refusal.action) == ("hard", "block")


@pytest.mark.parametrize(
    ("match", "applies"),
    [
        ({}, True),
        ({"team": "support"}, True),
        ({"team": ["billing", "sup*"]}, True),
        ({"team": "billing"}, False),
        ({"key": "k1", "user": "bob"}, False),
        ({"tag": "beta"}, True),
        ({"tag": "gamma"}, False),
        ({"agent": "support"}, False),  # no agent on this hop
        ({"listener": "llm", "tenant": "acme"}, True),
    ],
)
def test_match(match: dict[str, Any], applies: bool) -> None:
    r = rules({"match": match, "deny": ["t"]})
    assert bool(r.for_request(who(), "offered")) is applies


def test_sides() -> None:
    r = rules({"deny": ["a"], "apply_to": "offered"}, {"deny": ["b"], "apply_to": "called"})
    assert r.covers("offered") and r.covers("called")
    assert ToolRules.refusal(r.for_request(who(), "offered"), "b") is None
    assert ToolRules.refusal(r.for_request(who(), "called"), "b") is not None
    assert not rules({"deny": ["a"], "apply_to": "offered"}).covers("called")


def test_who_reads_the_context() -> None:
    ctx = RequestContext("r", "openai_chat", {}, listener="llm", agent_id="support")
    ctx.principal = Principal("k", "key", "u", "t", "acme", frozenset({"x"}))
    assert Who.of(ctx) == Who("k", "u", "t", "acme", frozenset({"x"}), "support", "llm")


def test_a_rule_needs_a_list() -> None:
    with pytest.raises(ValueError, match="allow' or 'deny"):
        ToolRule.model_validate({"match": {"team": "x"}})
