"""Cost attribution in the usage log (migration 0005), on SQLite and PostgreSQL: records keep
key, user, team, tenant, agent, route and trace; totals group and filter by them, exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.store import test_migrations

from plano.accounting.ledger import UsageRecord
from plano.core.model import Usage
from plano.store.db import PostgresDatabase, SQLiteDatabase
from plano.store.protocols import UsageLog, UsageQuery
from plano.store.usage import PostgresUsageLog, SQLiteUsageLog

T0 = 1_700_000_000.0
pg_url = test_migrations.pg_url


@pytest.fixture(params=["sqlite", "postgres"])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageLog]:
    store: SQLiteUsageLog | PostgresUsageLog
    if request.param == "sqlite":
        store = SQLiteUsageLog(SQLiteDatabase(tmp_path / "state.db"))
    else:
        store = PostgresUsageLog(PostgresDatabase(request.getfixturevalue("pg_url")))
    yield store
    await store.close()


def rec(i: int, **who: Any) -> dict[str, Any]:
    return UsageRecord(
        request_id=f"r{i}",
        ts=T0 + i * 3600 * 13,  # about two a day
        shape="openai_chat",
        model_requested="fast",
        provider="openai",
        model="gpt-4o",
        status=200,
        stream=False,
        usage=Usage(10, 5),
        cost=Decimal("0.000000000001") * (i + 1) + Decimal("0.1"),
        total_ms=1.0,
        overhead_ms=0.1,
        ttft_ms=None,
        attempts=1,
        trace_id=f"{i:032x}",
        **who,
    ).to_json()


RECORDS = [
    rec(0, key_id="k-alice", user_id="alice", team="search", tenant="acme", route="code"),
    rec(1, key_id="k-alice", user_id="alice", team="search", tenant="acme", agent="planner"),
    rec(2, key_id="k-bob", user_id="bob", team="ads", tenant="acme", agent="planner"),
    rec(3),  # anonymous: no key, no user
]


async def test_records_keep_their_attribution_and_leave_out_what_they_lack(log: UsageLog) -> None:
    await log.append(RECORDS)
    first = await log.find("r0")
    assert first is not None
    assert (first["key_id"], first["user_id"], first["team"], first["tenant"]) == (
        "k-alice", "alice", "search", "acme",
    )  # fmt: skip
    assert first["route"] == "code" and first["trace_id"] == f"{0:032x}"
    assert "agent" not in first  # as the ledger wrote it
    bare = await log.find("r3")
    assert bare is not None and "key_id" not in bare and "team" not in bare


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("team", {None: 1, "ads": 1, "search": 2}),
        ("key", {None: 1, "k-alice": 2, "k-bob": 1}),
        ("user", {None: 1, "alice": 2, "bob": 1}),
        ("tenant", {None: 1, "acme": 3}),
        ("agent", {None: 2, "planner": 2}),
        ("route", {None: 3, "code": 1}),
    ],
)
async def test_totals_group_by_each_attribution(
    log: UsageLog, by: str, expected: dict[str | None, int]
) -> None:
    await log.append(RECORDS)
    rows = await log.totals(UsageQuery(), (by,))
    assert {r[by]: r["requests"] for r in rows} == expected


async def test_costs_per_team_and_day_are_exact_and_filters_narrow(log: UsageLog) -> None:
    await log.append(RECORDS)
    rows = await log.totals(UsageQuery(), ("team", "day"))
    search = [r for r in rows if r["team"] == "search"]
    assert sum(Decimal(r["cost_usd"]) for r in search) == Decimal("0.200000000003")
    only = await log.totals(UsageQuery(team="search", user_id="alice"))
    assert only[0]["requests"] == 2
    assert Decimal(only[0]["cost_usd"]) == Decimal("0.200000000003")
    traced = await log.query(UsageQuery(trace_id=f"{2:032x}"))
    assert [r["request_id"] for r in traced.records] == ["r2"]
    by_key = await log.totals(UsageQuery(key_id="k-bob", agent="planner"))
    assert by_key[0]["requests"] == 1
