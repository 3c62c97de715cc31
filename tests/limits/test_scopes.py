"""plano.limits.scopes: whose counter a request counts against."""

from __future__ import annotations

import pytest
from tests.limits.support import context, dep

from plano.limits.scopes import Selector, key_part, model_names, scope_value
from plano.pipeline.context import Principal


def test_scope_values() -> None:
    p = Principal("k-1", "key", user="ann", team="red", tenant="acme")
    ctx = context(principal=p, session="conv-9")
    ctx.agent_id = "support"
    d = dep()
    assert [scope_value(s, ctx, d) for s in ("key", "user", "team", "tenant")] == [
        "k-1",
        "ann",
        "red",
        "acme",
    ]
    assert scope_value("session", ctx, d) == "conv-9"
    assert scope_value("agent", ctx, d) == "support"
    assert scope_value("model", ctx, d) == "openai/gpt-4o-mini"
    assert scope_value("model", ctx, None) is None
    assert scope_value("global", ctx, d) == "*"


def test_missing_values_are_none_and_anonymous_callers_share_a_key() -> None:
    ctx = context()
    assert scope_value("key", ctx, dep()) == "anonymous"
    for scope in ("user", "team", "tenant", "session", "agent"):
        assert scope_value(scope, ctx, dep()) is None


def test_selector_match_values_and_models() -> None:
    d = dep()
    assert Selector.of("*", [], "match").selects("anyone", d, named=False)
    only = Selector.of(["red", "blue"], [], "match")
    assert only.selects("red", d, False) and not only.selects("green", d, False)
    assert only.selects("green", d, named=True)  # a key that lists it brings it in
    single = Selector.of("red", [], "match")
    assert single.selects("red", d, False) and not single.selects("r", d, False)


@pytest.mark.parametrize(
    ("models", "selected"),
    [
        (["openai/gpt-4o-mini"], True),
        (["gpt-4o-mini"], True),
        (["openai/*"], True),
        (["mini"], True),  # the entry's name
        (["gpt-4o"], False),
        (["anthropic/*"], False),
    ],
)
def test_selector_models(models: list[str], selected: bool) -> None:
    s = Selector.of("*", models, "match")
    assert s.selects("x", dep(label="mini"), False) is selected
    assert s.selects("x", None, False)  # before routing: any model may be the one


def test_key_only_limits_apply_to_keys_that_name_them() -> None:
    s = Selector.of("*", [], "key")
    assert not s.selects("k-1", dep(), named=False)
    assert s.selects("k-1", dep(), named=True)


def test_model_names_include_the_wildcard_entry() -> None:
    d = dep().with_model("gpt-4.1")
    assert {"openai/gpt-4.1", "gpt-4.1", "openai/*"} <= model_names(d)


@pytest.mark.parametrize("value", ["team-a", "k_1.2", "anonymous", "*"])
def test_key_part_keeps_short_plain_values(value: str) -> None:
    assert key_part(value) == value


@pytest.mark.parametrize("value", ["a:b", "é", "x" * 65, "tab\there", "#abc"])
def test_key_part_hashes_the_rest(value: str) -> None:
    part = key_part(value)
    assert part.startswith("#") and len(part) == 33 and ":" not in part
    assert key_part(value) == part and key_part(value + "!") != part
