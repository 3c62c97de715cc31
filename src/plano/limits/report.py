"""What ``GET /plano/v1/budgets`` shows: each budget's limit, and for one scope value (or the
global counter) what is spent and held in the current period."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from plano.limits.budgets import BudgetRule
from plano.limits.estimate import NANO
from plano.limits.periods import period_end, period_key
from plano.limits.render import iso_utc
from plano.limits.scopes import key_part
from plano.store.protocols import Counters

__all__ = ["budget_report"]


def _dollars(nano: float) -> str:
    return str(Decimal(int(nano)) / NANO)


async def budget_report(
    rules: list[BudgetRule], counters: Counters, value: str | None, now: float | None = None
) -> list[dict[str, Any]]:
    """One row per budget; counters are read for global budgets, and for the others when
    ``value`` (a key id, user, team, tenant, session or agent) is given."""
    now = time.time() if now is None else now
    rows = []
    for r in rules:
        pk = period_key(r.period, now)
        end = period_end(r.period, now)
        row: dict[str, Any] = {
            "name": r.name,
            "scope": r.scope,
            "period": r.period,
            "period_key": pk,
            "resets_at": None if end is None else iso_utc(end),
            "usd": None if r.nano_usd is None else _dollars(r.nano_usd),
            "tokens": r.tokens,
        }
        who = "*" if r.scope == "global" else value
        if who is not None:
            row["value"] = who
            base = f"b:{r.name}:{pk}:{key_part(who)}"
            if r.nano_usd is not None:
                used, held = await counters.get(f"{base}:usd")
                row |= {"used_usd": _dollars(used), "held_usd": _dollars(held)}
                row |= {"used_nano_usd": int(used), "held_nano_usd": int(held)}
            if r.tokens is not None:
                used, held = await counters.get(f"{base}:tok")
                row |= {"used_tokens": int(used), "held_tokens": int(held)}
        rows.append(row)
    return rows
