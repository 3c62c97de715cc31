"""Declarative routing rules: each condition, rule order, and lazy token counting."""

from __future__ import annotations

from typing import Any

import pytest
from tests.routing.smart_support import request

from plano.config.routing import RoutingRule
from plano.core.model import ChatRequest
from plano.routing.rules import (
    COUNT_CAP_BYTES,
    NamePattern,
    RequestFacts,
    TokensNeeded,
    compile_rule,
    first_match,
)


def counting(
    req: ChatRequest, headers: dict[str, str] | None = None, tokens: int = 10
) -> tuple[RequestFacts, list[int]]:
    counted: list[int] = []

    async def count(_r: ChatRequest) -> int:
        counted.append(1)
        return tokens

    return RequestFacts(req, headers or {}, count), counted


def facts(req: ChatRequest, headers: dict[str, str] | None = None) -> RequestFacts:
    return counting(req, headers)[0]


def rule(when: dict[str, Any], to: str = "x", name: str = "r") -> Any:
    return compile_rule(RoutingRule.model_validate({"name": name, "when": when, "route_to": to}))


def test_name_pattern_exact_glob_and_star() -> None:
    p = NamePattern(["gpt-4o", "claude-*"])
    assert p.matches("gpt-4o") and p.matches("claude-sonnet-4-5")
    assert not p.matches("gpt-4o-mini") and not p.matches(None)
    assert NamePattern(["*"]).matches("") and NamePattern(["*"]).matches(None)


@pytest.mark.parametrize(
    ("when", "req", "headers", "expected"),
    [
        ({"model": "gpt-4o-mini"}, request(), {}, True),
        ({"model": ["gpt-4*"]}, request("gpt-4o"), {}, True),
        ({"model": "chat"}, request(), {}, False),
        ({"has_tools": True}, request(tools=True), {}, True),
        ({"has_tools": True}, request(), {}, False),
        ({"has_images": True}, request(image=True), {}, True),
        ({"has_images": False}, request(image=True), {}, False),
        ({"stream": True}, request(stream=True), {}, True),
        ({"json_mode": True}, request(response_format={"type": "json_object"}), {}, True),
        ({"json_mode": True}, request(response_format={"type": "text"}), {}, False),
        ({"max_tokens": {"gt": 1000}}, request(max_tokens=4096), {}, True),
        ({"max_tokens": {"gt": 1000}}, request(), {}, False),
        ({"headers": {"X-Team": "research"}}, request(), {"x-team": "research"}, True),
        ({"headers": {"x-team": "*"}}, request(), {}, False),
        ({"user": ["alice"]}, request(user="alice"), {}, True),
        ({"user": ["alice"]}, request(), {"x-plano-user": "alice"}, True),
        ({"team": "ml"}, request(metadata={"team": "ml"}), {}, True),
        ({"team": "ml"}, request(), {"x-plano-team": "ml"}, True),
        ({"tags": ["summarize"]}, request(), {"x-plano-tags": "chat, summarize"}, True),
        ({"tags": ["summarize"]}, request(metadata={"tags": "code"}), {}, False),
        (
            {"metadata": {"task": ["code", "review"]}},
            request(metadata={"task": "review"}),
            {},
            True,
        ),
        ({}, request(), {}, True),
    ],
)
def test_conditions(
    when: dict[str, Any], req: ChatRequest, headers: dict[str, str], expected: bool
) -> None:
    assert rule(when).matches(facts(req, headers)) is expected


def test_all_conditions_must_hold() -> None:
    r = rule({"model": "gpt-4o-mini", "has_tools": True})
    assert not r.matches(facts(request()))
    assert r.matches(facts(request(tools=True)))


def test_first_matching_rule_wins_in_order() -> None:
    rules = [rule({"has_images": True}, "vision", "a"), rule({}, "default", "b")]
    assert first_match(rules, facts(request(image=True))).target == "vision"  # type: ignore[union-attr]
    assert first_match(rules, facts(request())).target == "default"  # type: ignore[union-attr]
    assert first_match([rule({"stream": True})], facts(request())) is None


async def test_input_tokens_counted_only_when_bounds_cannot_decide() -> None:
    big = rule({"has_tools": True, "input_tokens": {"gte": 100}}, "long")
    f, counted = counting(request(), tokens=500)
    assert not big.matches(f)
    assert counted == []  # has_tools failed first
    # A short prompt is below 100 tokens by its size alone: no count.
    f, counted = counting(request(tools=True), tokens=500)
    assert not big.matches(f)
    assert counted == []
    # ~600 characters may be 75-300 tokens: the bounds cannot tell, so the rule asks.
    f, counted = counting(request(text="word " * 120, tools=True), tokens=500)
    with pytest.raises(TokensNeeded):
        big.matches(f)
    assert await f.count_exact() == 500
    assert big.matches(f) and big.matches(f)
    assert counted == [1]  # counted once, off the loop


def test_far_above_a_threshold_is_decided_without_counting() -> None:
    f, counted = counting(request(text="x" * 100_000), tokens=1)
    assert rule({"input_tokens": {"gt": 1000}}).matches(f)
    assert not rule({"input_tokens": {"lte": 1000}}).matches(f)
    assert counted == []


def test_token_bounds_without_tokenizer() -> None:
    f, counted = counting(request(text="x" * 1000), tokens=250)
    assert f.tokens_at_most() >= 1000  # a token is at least one byte
    assert f.likely_at_most() >= 500
    assert f.likely_at_least() <= 250 <= f.likely_at_most()
    assert counted == []
    assert 200 <= f.approx_tokens() <= 400
    with pytest.raises(TokensNeeded):
        _ = f.input_tokens


def test_non_ascii_text_bounds_count_its_bytes() -> None:
    f, _ = counting(request(text="語" * 1000))
    assert f.likely_at_most() >= 3000  # one token per UTF-8 byte at most


async def test_prompts_past_the_cap_are_estimated_not_counted() -> None:
    f, counted = counting(request(text="y" * (COUNT_CAP_BYTES + 10)))
    assert await f.count_exact() == f.approx_tokens()
    assert counted == []


def test_session_from_plano_header_ours_or_metadata() -> None:
    assert facts(request(), {"x-model-affinity": "s1"}).session == "s1"
    assert facts(request(), {"x-plano-session-id": "s2"}).session == "s2"
    assert facts(request(metadata={"session_id": "s3"})).session == "s3"
    assert facts(request()).session is None


def test_a_few_non_ascii_characters_do_not_void_the_ascii_ratio() -> None:
    f, _ = counting(request(text="x" * 10_000 + "é"))
    assert 10_002 <= f.text_bytes() < 10_100  # plus framing
    assert f.likely_at_most() < 5_100  # not 10,002: the ASCII part keeps its ratio


async def test_a_long_prompt_is_sampled_before_it_is_counted() -> None:
    sampled: list[int] = []

    async def sample(_r: ChatRequest) -> float:
        sampled.append(1)
        return 30_000.0

    f, counted = counting(request(text="word " * 40_000), tokens=29_000)
    f._sample = sample
    # 200 KB may be 25k-100k tokens: a 128k window minus 32k of output is undecided.
    with pytest.raises(TokensNeeded):
        f.tokens_within(None, 96_000)
    await f.refine()
    assert sampled == [1] and counted == []
    assert f.tokens_within(None, 96_000)  # 25k-36k by the sample: it fits, no full count
    with pytest.raises(TokensNeeded):
        f.tokens_within(None, 30_000)  # the sample's margin cannot tell
    await f.refine()
    assert counted == [1] and f.tokens_within(None, 30_000)
