"""Where the limit filters sit: only when the config declares limits, after accounting, rate
limits before budgets; and what `plano up` says about them."""

from __future__ import annotations

from typing import Any

from plano.config import check_config
from plano.limits import BudgetFilter, RateLimitFilter
from plano.server.runner import build_gateway
from plano.server.state_setup import describe_state, state_settings


def config(**extra: Any) -> Any:
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k", "default": True}],
        **extra,
    }
    cfg, issues = check_config(data, {})
    assert cfg is not None, [str(i) for i in issues]
    return cfg


def names(cfg: Any) -> list[str]:
    return [f.name for f in build_gateway(cfg).chain.filters]


def test_no_limits_no_filters() -> None:
    assert not {"budgets", "rate_limits"} & set(names(config()))


def test_rate_limits_then_budgets_after_accounting() -> None:
    cfg = config(
        budgets=[{"name": "b", "scope": "global", "usd": 1}],
        rate_limits=[{"scope": "global", "requests": 1}],
    )
    chain = build_gateway(cfg).chain.filters
    order = [f.name for f in chain]
    assert order.index("accounting") < order.index("rate_limits") < order.index("budgets")
    assert all(
        not f.rewrites_request for f in chain if isinstance(f, BudgetFilter | RateLimitFilter)
    )
    assert "rate_limits" in names(
        config(
            ratelimits=[
                {
                    "model": "gpt-4o-mini",
                    "selector": {"key": "x-user", "value": "*"},
                    "limit": {"tokens": 1, "unit": "minute"},
                }
            ]
        )
    )


def test_plano_up_says_where_limits_count() -> None:
    cfg = config(budgets=[{"name": "b", "scope": "global", "usd": 1}])
    lines = describe_state(cfg, state_settings(cfg, workers=2))
    assert "budgets and rate limits: counted in the hot state" in lines
    memory = config(
        budgets=[{"name": "b", "scope": "global", "usd": 1}], state={"path": ":memory:"}
    )
    lines = describe_state(memory, state_settings(memory, workers=2))
    assert (
        "budgets and rate limits: counted in the hot state (each worker its own: they do not"
        " add up)" in lines
    )
    assert not any("budgets" in line for line in describe_state(config(), state_settings(config())))
