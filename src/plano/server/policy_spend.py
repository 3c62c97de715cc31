"""``input.spend`` for the policies: what a principal has spent so far under each budget of
the config (``budgets:``), read from the budgets' counters in the hot store.

One row per budget whose scope the principal has a value for (``key``, ``user``, ``team``,
``tenant``; ``global`` always); budgets scoped by session or agent, and budgets' model or
match selectors, are not applied here (the row is the scope value's spend whatever the
model). Read once per request, and only when a policy refers to ``spend``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plano.config.limits import Budget
from plano.limits.budgets import BudgetRule
from plano.limits.report import budget_report
from plano.pipeline.context import Principal
from plano.policy.input import SpendReader
from plano.store.protocols import Counters

__all__ = ["budget_spend"]

_NANO = 1e9


def _value(scope: str, p: Principal) -> str | None:
    return {"key": p.id, "user": p.user, "team": p.team, "tenant": p.tenant, "global": "*"}.get(
        scope
    )


def budget_spend(budgets: Sequence[Budget], counters: Counters) -> SpendReader | None:
    """A :class:`~plano.policy.input.SpendReader` over ``budgets`` (``None`` without any)."""
    rules = [BudgetRule.of(b) for b in budgets]
    if not rules:
        return None

    async def read(principal: Principal) -> Mapping[str, Any] | None:
        out: dict[str, Any] = {}
        for rule in rules:
            value = _value(rule.scope, principal)
            if value is None:
                continue
            [row] = await budget_report([rule], counters, None if value == "*" else value)
            out[rule.name] = {
                "scope": rule.scope,
                "period": rule.period,
                "usd": row.get("used_nano_usd", 0) / _NANO if rule.nano_usd is not None else None,
                "tokens": row.get("used_tokens") if rule.tokens is not None else None,
                "limit_usd": rule.nano_usd / _NANO if rule.nano_usd is not None else None,
                "limit_tokens": rule.tokens,
            }
        return out

    return read
