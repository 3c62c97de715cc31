"""A turn for a key whose budget is spent is refused before any agent is called."""

from __future__ import annotations

import pytest

from plano.config.limits import Budget
from plano.core.trace import TraceContext
from plano.errors import BudgetExceeded
from plano.limits.periods import period_key
from plano.limits.scopes import key_part
from plano.pipeline.context import KeyInfo, Principal, RequestContext
from plano.server.agent_budgets import TurnBudgets
from plano.store.memory import MemoryCounters

NOW = 1_796_205_600.0  # 2026-12-02T10:00:00Z


def _ctx(budgets: tuple[str, ...]) -> RequestContext:
    key = KeyInfo("alice", "config", budgets=budgets)
    ctx = RequestContext("req_1", "openai_chat", {}, trace=TraceContext.start(None))
    ctx.principal = Principal("alice", "key", key=key)
    return ctx


async def test_a_spent_budget_refuses_and_an_unspent_one_admits() -> None:
    counters = MemoryCounters()
    budgets = [
        Budget(name="daily", scope="key", period="day", usd="0.50", applies="key"),
        Budget(name="tokens", scope="key", period="month", tokens=1000, applies="key"),
    ]
    gate = TurnBudgets(budgets, counters, clock=lambda: NOW)
    await gate.check(_ctx(("daily", "tokens")))  # nothing spent
    await gate.check(_ctx(()))  # a key without budgets: nothing read
    base = f"b:tokens:{period_key('month', NOW)}:{key_part('alice')}"
    await counters.add(f"{base}:tok", 999)
    await gate.check(_ctx(("tokens",)))  # one token left: its model calls decide
    await counters.add(f"{base}:tok", 1)
    ctx = _ctx(("daily", "tokens"))
    with pytest.raises(BudgetExceeded) as refused:
        await gate.check(ctx)
    err = refused.value
    assert err.status == 429 and err.error_type == "insufficient_quota"
    assert "'tokens' is spent" in err.message and "not sent to any agent" in err.message
    assert err.retry_after is not None and err.retry_after > 0  # the month's end
    assert [(d.source, d.action, d.rule) for d in ctx.decisions] == [("budgets", "deny", "tokens")]
    # Another key's counter is its own.
    other = _ctx(("tokens",))
    other.principal = Principal("bob", "key", key=KeyInfo("bob", "config", budgets=("tokens",)))
    await gate.check(other)
