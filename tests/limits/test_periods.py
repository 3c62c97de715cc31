"""plano.limits.periods: the period a counter key carries, and when it ends (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plano.limits.periods import period_end, period_key, period_label


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("when", "day", "month"),
    [
        ("2026-12-02T00:00:00", "d2026-12-02", "m2026-12"),
        ("2026-12-02T23:59:59.999", "d2026-12-02", "m2026-12"),
        ("2026-12-31T23:59:59", "d2026-12-31", "m2026-12"),
        ("2027-01-01T00:00:00", "d2027-01-01", "m2027-01"),
        ("2028-02-29T12:00:00", "d2028-02-29", "m2028-02"),
    ],
)
def test_keys_change_with_the_utc_day_and_month(when: str, day: str, month: str) -> None:
    assert period_key("day", at(when)) == day
    assert period_key("month", at(when)) == month
    assert period_key("total", at(when)) == "total"


@pytest.mark.parametrize(
    ("period", "when", "end"),
    [
        ("day", "2026-12-02T13:14:15", "2026-12-03T00:00:00"),
        ("day", "2026-12-31T23:59:59", "2027-01-01T00:00:00"),
        ("month", "2026-12-02T13:14:15", "2027-01-01T00:00:00"),
        ("month", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),
        ("month", "2026-01-31T23:00:00", "2026-02-01T00:00:00"),
    ],
)
def test_period_end_is_the_next_boundary(period: str, when: str, end: str) -> None:
    assert period_end(period, at(when)) == at(end)  # type: ignore[arg-type]


def test_total_never_ends() -> None:
    assert period_end("total", at("2026-12-02T00:00:00")) is None
    assert period_label("total") == "in total"
    assert period_label("day") == "today (UTC)"
