"""Budgets on the agent hop: a turn for a key whose budget is spent is refused before any
agent is called.

A turn reserves nothing (it costs nothing itself: its agents' model calls are priced and
reserved at the model listener). But a key that lists budgets (``auth.keys[].budgets``) and
has spent one of them would otherwise start a turn whose agents are then refused one model
call at a time, each answering its own error; here the turn gets one 429
(``insufficient_quota``) in the client's shape, with ``Retry-After`` at the period's end.
Only the budgets the key names are read (one counter read each, per turn); a budget the
store cannot read lets the turn go on (its model calls are checked again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from plano.config.limits import Budget
from plano.errors import BudgetExceeded, PlanoError
from plano.limits.budgets import BudgetRule
from plano.limits.periods import period_end, period_label
from plano.limits.render import iso_utc, tokens_text, usd
from plano.limits.report import budget_report
from plano.limits.scopes import scope_value
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.store.protocols import Counters

__all__ = ["TurnBudgets"]

log = logging.getLogger("plano.agents")


class TurnBudgets(Filter):
    """In the agent listener's chain only to be found there (no hook: the listener calls
    :meth:`check` once per turn, after choosing, before any agent)."""

    name: ClassVar[str] = "turn_budgets"

    def __init__(
        self,
        budgets: Sequence[Budget],
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = {b.name: BudgetRule.of(b) for b in budgets}
        self.counters = counters
        self.clock = clock

    async def check(self, ctx: RequestContext) -> None:
        """Raises :class:`BudgetExceeded` when a budget the key names is spent."""
        key = ctx.principal.key
        if key is None or not key.budgets:
            return
        for name in key.budgets:
            rule = self.rules.get(name)
            value = None if rule is None else scope_value(rule.scope, ctx, None)
            if rule is None or value is None:
                continue
            try:
                [row] = await budget_report([rule], self.counters, value, self.clock())
            except PlanoError as exc:
                log.warning("budget %s could not be read for a turn (%s)", name, exc.metric_label)
                continue
            err = self._spent(rule, row)
            if err is not None:
                ctx.decisions.append(Decision("budgets", "deny", rule.name, err.message))
                raise err

    def _spent(self, rule: BudgetRule, row: dict[str, object]) -> BudgetExceeded | None:
        for unit, limit, used in (
            ("usd", rule.nano_usd, row.get("used_nano_usd")),
            ("tok", rule.tokens, row.get("used_tokens")),
        ):
            if limit is None or not isinstance(used, int) or used < limit:
                continue
            show = usd if unit == "usd" else tokens_text
            text = (
                f"Budget {rule.name!r} is spent: {show(used)} of {show(limit)} "
                f"{period_label(rule.period)}; the turn was not sent to any agent."
            )
            now = self.clock()
            end = period_end(rule.period, now)
            if end is not None:
                text += f" It resets at {iso_utc(end)}."
            return BudgetExceeded(
                text, code="budget_exceeded", retry_after=None if end is None else end - now
            )
        return None
