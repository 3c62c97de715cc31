"""The limit filters a config asks for (none when it declares no budgets and no rate limits,
so a gateway without them pays nothing)."""

from __future__ import annotations

from collections.abc import Callable

from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig
from plano.limits.budgets import BudgetFilter, BudgetRule
from plano.limits.estimate import ModelLimits
from plano.limits.ratelimits import PlanoRule, RateLimitFilter, RateRule
from plano.pipeline.filters import Filter
from plano.providers.deployment import Deployment
from plano.store.health import StoreHealth
from plano.store.protocols import Counters

__all__ = ["HOLD_MARGIN", "limit_filters"]

#: How much longer than the listener's timeout a budget hold may live (the drain queue, a
#: settle retried while the store comes back).
HOLD_MARGIN = 120.0


def limit_filters(
    config: PlanoConfig,
    counters: Counters,
    prices: PriceBook,
    counter: TokenCounter,
    limits: Callable[[Deployment], ModelLimits],
    *,
    timeout: float,
    health: StoreHealth | None = None,
) -> list[Filter]:
    """Rate limits first (a refusal costs one window check and reserves nothing), then
    budgets."""
    out: list[Filter] = []
    if config.rate_limits or config.ratelimits:
        rules = [RateRule.of(r, i) for i, r in enumerate(config.rate_limits)]
        plano = [PlanoRule.of(r, i) for i, r in enumerate(config.ratelimits)]
        out.append(RateLimitFilter(rules, plano, counters, counter, health=health))
    if config.budgets:
        out.append(
            BudgetFilter(
                [BudgetRule.of(b) for b in config.budgets],
                counters,
                prices,
                limits,
                hold_ttl=timeout + HOLD_MARGIN,
                health=health,
            )
        )
    return out
