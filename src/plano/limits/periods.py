"""Budget periods in UTC: the key a period's counter carries (so a new period starts at 0
without any reset job) and when the period ends (the ``Retry-After`` of a refusal). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

__all__ = ["Period", "period_end", "period_key", "period_label"]

Period: TypeAlias = Literal["day", "month", "total"]


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def period_key(period: Period, now: float) -> str:
    """``d2026-12-02``, ``m2026-12`` or ``total``: part of every budget counter's key."""
    if period == "total":
        return "total"
    t = _utc(now)
    if period == "day":
        return f"d{t:%Y-%m-%d}"
    return f"m{t:%Y-%m}"


def period_end(period: Period, now: float) -> float | None:
    """When the period that contains ``now`` ends (epoch seconds); ``None`` for ``total``."""
    if period == "total":
        return None
    t = _utc(now)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return (start + timedelta(days=1)).timestamp()
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def period_label(period: Period) -> str:
    """How a message names the period: ``today (UTC)``, ``this month (UTC)``, ``in total``."""
    return {"day": "today (UTC)", "month": "this month (UTC)", "total": "in total"}[period]
