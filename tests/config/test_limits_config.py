"""``budgets:``, ``rate_limits:`` and Plano's ``ratelimits:`` in the config: what validates,
what is refused with a path, what is warned about."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from plano.config import check_config


def issues(data: dict[str, Any]) -> list[str]:
    _, found = check_config(data, {})
    return [str(i) for i in found]


def test_budgets_and_rate_limits_load(base: dict[str, Any]) -> None:
    base["budgets"] = [
        {
            "name": "team-daily",
            "scope": "team",
            "match": "red",
            "period": "day",
            "usd": 10,
            "soft": 0.8,
            "default_max_tokens": 1024,
        },
        {"name": "keys", "scope": "key", "tokens": 100000, "applies": "key"},
    ]
    base["rate_limits"] = [{"scope": "key", "requests": 60, "tokens": 100000, "per": "minute"}]
    config, found = check_config(base, {})
    assert config is not None and found == []
    b = config.budgets[0]
    assert (b.usd, b.period, b.soft, b.on_store_error) == (Decimal(10), "day", 0.8, "closed")
    assert config.budgets[1].period == "month" and config.budgets[1].match == "*"
    assert config.rate_limits[0].on_store_error == "open"


def test_plano_ratelimits_are_supported_now(base: dict[str, Any]) -> None:
    base["ratelimits"] = [
        {
            "model": "openai/gpt-4o",
            "selector": {"key": "x-user", "value": "*"},
            "limit": {"tokens": 1000, "unit": "minute"},
        },
        {
            "model": "gpt-4o",
            "selector": {"key": "x-team", "value": "red"},
            "limit": {"tokens": 1000, "unit": "day"},
        },
    ]
    assert issues(base) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "b", "scope": "team"}, "a budget needs usd, tokens or both"),
        ({"name": "b", "scope": "team", "usd": 1, "match": []}, "at least one value"),
        ({"name": "b", "scope": "team", "usd": 1, "match": ["*", "red"]}, "'*' stands for"),
        ({"name": "b c", "scope": "team", "usd": 1}, "budgets[0].name"),
        ({"name": "b", "scope": "planet", "usd": 1}, "budgets[0].scope"),
        ({"name": "b", "scope": "team", "usd": -1}, "budgets[0].usd"),
        ({"name": "b", "scope": "team", "usd": 1, "soft": 1.5}, "budgets[0].soft"),
        ({"name": "b", "scope": "team", "usd": 1, "period": "week"}, "budgets[0].period"),
    ],
)
def test_bad_budgets(base: dict[str, Any], entry: dict[str, Any], message: str) -> None:
    base["budgets"] = [entry]
    assert any(message in i for i in issues(base)), issues(base)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"scope": "key"}, "a rate limit needs requests, tokens or both"),
        ({"scope": "key", "requests": 0}, "rate_limits[0].requests"),
        ({"scope": "key", "requests": 1, "per": "week"}, "rate_limits[0].per"),
        ({"scope": "agent", "requests": 1}, "rate_limits[0].scope"),
    ],
)
def test_bad_rate_limits(base: dict[str, Any], entry: dict[str, Any], message: str) -> None:
    base["rate_limits"] = [entry]
    assert any(message in i for i in issues(base)), issues(base)


def test_names_are_unique(base: dict[str, Any]) -> None:
    base["budgets"] = [{"name": "b", "scope": "team", "usd": 1}] * 2
    base["rate_limits"] = [{"name": "r", "scope": "key", "requests": 1}] * 2
    assert issues(base) == [
        "budgets[1].name: 'b' is also budgets[0]; names are unique",
        "rate_limits[1].name: 'r' is also rate_limits[0]; names are unique",
    ]


def test_models_that_nothing_declares_are_warned_about(base: dict[str, Any]) -> None:
    base["budgets"] = [
        {"name": "b", "scope": "team", "usd": 1, "models": ["gpt-4o", "openai/*", "gpt-5"]}
    ]
    base["ratelimits"] = [
        {
            "model": "anthropic/claude",
            "selector": {"key": "x-user", "value": "*"},
            "limit": {"tokens": 1, "unit": "minute"},
        }
    ]
    assert issues(base) == [
        "budgets[0].models[2]: 'gpt-5' is not a declared model; this limit never applies",
        "ratelimits[0].model: 'anthropic/claude' is not a declared model; this limit never applies",
    ]
