"""The UsageLog contract, run on every durable backend (SQLite in a temp dir, the local
PostgreSQL in a fresh schema): append, duplicates, find, filters, paging, exact totals,
grouping."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.store import test_migrations

from plano.accounting.ledger import UsageRecord
from plano.core.model import Usage
from plano.errors import InvalidRequest
from plano.store.db import PostgresDatabase, SQLiteDatabase
from plano.store.protocols import StoreUnavailable, UsageLog, UsageQuery
from plano.store.usage import PostgresUsageLog, SQLiteUsageLog

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


pg_url = test_migrations.pg_url  # the fixture: a fresh schema per test


@pytest.fixture(params=["sqlite", "postgres"])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageLog]:
    store: SQLiteUsageLog | PostgresUsageLog
    if request.param == "sqlite":
        store = SQLiteUsageLog(SQLiteDatabase(tmp_path / "state.db"))
    else:
        store = PostgresUsageLog(PostgresDatabase(request.getfixturevalue("pg_url")))
    yield store
    await store.close()


def record(i: int, **over: Any) -> dict[str, Any]:
    """A record as the ledger writes it (``UsageRecord.to_json()``), varied by ``i``."""
    r = UsageRecord(
        request_id=f"req-{i:06d}",
        ts=T0 + i,
        shape="openai_chat",
        model_requested="fast",
        provider=("openai", "anthropic")[i % 2],
        model=("gpt-4o", "claude-3-5-haiku", "gpt-4o-mini")[i % 3],
        status=(200, 200, 200, 429, 502)[i % 5],
        stream=i % 2 == 0,
        usage=Usage(input_tokens=10 + i, output_tokens=i % 7, cache_read_tokens=i % 3),
        cost=Decimal("0.0001234") * (i % 4) if i % 4 else None,
        total_ms=100.5,
        overhead_ms=1.25,
        ttft_ms=20.0 if i % 2 == 0 else None,
        attempts=1 + i % 2,
        error="upstream_status" if i % 5 == 4 else None,
        principal=f"team-{i % 3}" if i % 6 else None,
    ).to_json()
    return {**r, "session": f"s{i % 4}" if i % 8 else None, **over}


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal records (costs compared as decimals: '2.468E-4' and '0.0002468' are one cost)."""
    assert {**a, "cost_usd": None} == {**b, "cost_usd": None}
    ca, cb = a["cost_usd"], b["cost_usd"]
    assert (ca is None and cb is None) or Decimal(ca) == Decimal(cb)


async def test_append_then_find_gives_the_record_back(log: UsageLog) -> None:
    records = [record(i) for i in range(12)]
    await log.append(records)
    for r in records:
        found = await log.find(r["request_id"])
        assert found is not None
        _same(found, r)
    assert await log.find("nope") is None


async def test_a_record_without_usage_or_session_and_with_extra_fields(log: UsageLog) -> None:
    bare = UsageRecord(
        "r-bare",
        T0,
        "anthropic_messages",
        "m",
        "p",
        "m",
        502,
        False,
        None,
        None,
        5.0,
        1.0,
        None,
        3,
        "upstream_connect",
    ).to_json()
    extra = {**record(1), "request_id": "r-extra", "team": "blue", "tags": ["a", "b"]}
    await log.append([bare, extra])
    assert await log.find("r-bare") == {**bare, "session": None}
    found = await log.find("r-extra")
    assert found is not None and found["team"] == "blue" and found["tags"] == ["a", "b"]


async def test_duplicates_are_ignored_within_and_across_batches(log: UsageLog) -> None:
    await log.append([record(1), record(2)])
    changed = record(1, status=500, cost_usd="9")
    await log.append([changed, record(3), record(3)])  # a retried batch, and a repeat inside
    (totals,) = await log.totals(UsageQuery())
    assert totals["requests"] == 3
    found = await log.find("req-000001")
    assert found is not None and found["status"] == record(1)["status"]  # the first one stays


async def test_a_bad_record_fails_the_whole_batch(log: UsageLog) -> None:
    with pytest.raises(ValueError):
        await log.append([record(1), {"request_id": "", "ts": T0, "status": 200}])
    with pytest.raises(ValueError):
        await log.append([record(2, cost_usd="not money")])
    assert await log.find("req-000001") is None
    await log.append([])  # nothing to do


DATA = [record(i) for i in range(60)]


def _expected(q: UsageQuery) -> list[str]:
    def keep(r: dict[str, Any]) -> bool:
        return (
            (q.since is None or r["ts"] >= q.since)
            and (q.until is None or r["ts"] < q.until)
            and all(
                getattr(q, k) is None or r[k] == getattr(q, k)
                for k in ("provider", "model", "principal", "session")
            )
            and (q.status_min is None or r["status"] >= q.status_min)
        )

    rows = sorted((r for r in DATA if keep(r)), key=lambda r: (r["ts"], r["request_id"]))
    return [r["request_id"] for r in reversed(rows)]


@pytest.mark.parametrize(
    "q",
    [
        UsageQuery(),
        UsageQuery(since=T0 + 10),
        UsageQuery(until=T0 + 10),
        UsageQuery(since=T0 + 5, until=T0 + 25),
        UsageQuery(provider="anthropic"),
        UsageQuery(model="gpt-4o-mini"),
        UsageQuery(principal="team-1"),
        UsageQuery(session="s3"),
        UsageQuery(status_min=400),
        UsageQuery(provider="openai", model="gpt-4o", status_min=200, since=T0 + 1),
        UsageQuery(principal="'; DROP TABLE usage_records; --"),
    ],
)
async def test_every_filter(log: UsageLog, q: UsageQuery) -> None:
    await log.append(DATA)
    page = await log.query(q)
    assert [r["request_id"] for r in page.records] == _expected(q)
    assert page.next is None


async def test_paging_through_1000_records_has_no_gaps_or_repeats(log: UsageLog) -> None:
    # Many records share a timestamp, so the cursor must break ties by request id.
    records = [{**record(i), "ts": T0 + i // 10} for i in range(1000)]
    random.Random(7).shuffle(records)
    for start in range(0, 1000, 250):
        await log.append(records[start : start + 250])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await log.query(UsageQuery(limit=37, cursor=cursor))
        seen += [r["request_id"] for r in page.records]
        pages += 1
        if pages == 3:  # newer records arriving while paging do not shift the pages
            await log.append([record(5000 + i, ts=T0 + 10_000) for i in range(5)])
        if page.next is None:
            break
        cursor = page.next
    expected = sorted(records, key=lambda r: (r["ts"], r["request_id"]), reverse=True)
    assert seen == [r["request_id"] for r in expected]
    assert pages == 28  # 27 full pages and one of 1


async def test_paging_with_a_filter_and_a_bad_cursor(log: UsageLog) -> None:
    await log.append(DATA)
    first = await log.query(UsageQuery(provider="openai", limit=10))
    assert first.next is not None
    second = await log.query(UsageQuery(provider="openai", limit=10, cursor=first.next))
    ids = [r["request_id"] for r in first.records + second.records]
    assert ids == _expected(UsageQuery(provider="openai"))[:20]
    for bad in ("garbage!", "bm90IGpzb24", "WzFd"):
        with pytest.raises(InvalidRequest):
            await log.query(UsageQuery(cursor=bad))


async def test_totals_of_10000_small_costs_are_exact(log: UsageLog) -> None:
    rng = random.Random(3)
    costs = [Decimal(rng.randrange(1, 10**9)) / Decimal(10**12) for _ in range(10_000)]
    records = [record(i, cost_usd=str(c)) for i, c in enumerate(costs)]
    for start in range(0, len(records), 500):
        await log.append(records[start : start + 500])
    (totals,) = await log.totals(UsageQuery())
    assert Decimal(totals["cost_usd"]) == sum(costs)
    assert totals["requests"] == 10_000
    assert totals["input_tokens"] == sum(r["input_tokens"] for r in records)
    assert totals["unpriced_requests"] == 0


async def test_totals_match_the_in_process_ledger_and_group(log: UsageLog) -> None:
    await log.append(DATA)
    (everything,) = await log.totals(UsageQuery())
    assert everything["requests"] == 60
    assert everything["errors"] == sum(1 for r in DATA if r["status"] >= 400)
    assert everything["unpriced_requests"] == sum(1 for r in DATA if r["cost_usd"] is None)
    priced = sum((Decimal(r["cost_usd"]) for r in DATA if r["cost_usd"]), Decimal(0))
    assert Decimal(everything["cost_usd"]) == priced
    for name in ("output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert everything[name] == sum(r[name] or 0 for r in DATA)

    rows = await log.totals(UsageQuery(), by=["provider", "model"])
    assert [(r["provider"], r["model"]) for r in rows] == sorted(
        {(r["provider"], r["model"]) for r in DATA}
    )
    assert sum(r["requests"] for r in rows) == 60
    for row in rows:
        mine = [r for r in DATA if (r["provider"], r["model"]) == (row["provider"], row["model"])]
        assert row["requests"] == len(mine)
        cost = sum((Decimal(r["cost_usd"]) for r in mine if r["cost_usd"]), Decimal(0))
        assert Decimal(row["cost_usd"]) == cost


@pytest.mark.parametrize(
    ("by", "key"),
    [
        ("principal", lambda r: r["principal"]),
        ("session", lambda r: r["session"]),
        ("status_class", lambda r: f"{r['status'] // 100}xx"),
        ("status", lambda r: r["status"]),
        ("stream", lambda r: r["stream"]),
        ("error", lambda r: r["error"]),
        ("day", lambda r: "2023-11-14" if r["ts"] < 1_700_006_400 else "2023-11-15"),
        ("hour", lambda r: "2023-11-14T22:00Z"),
    ],
)
async def test_grouping(log: UsageLog, by: str, key: Any) -> None:
    await log.append(DATA)
    rows = await log.totals(UsageQuery(), by=[by])
    got = {r[by]: r["requests"] for r in rows}
    want: dict[Any, int] = {}
    for r in DATA:
        want[key(r)] = want.get(key(r), 0) + 1
    assert got == want


async def test_grouping_by_day_across_midnight_and_with_a_filter(log: UsageLog) -> None:
    await log.append([record(i, ts=T0 + i * 3600) for i in range(30)])
    rows = await log.totals(UsageQuery(status_min=200), by=["day"])
    assert [(r["day"], r["requests"]) for r in rows] == [
        ("2023-11-14", 2),
        ("2023-11-15", 24),
        ("2023-11-16", 4),
    ]
    rows = await log.totals(UsageQuery(since=T0 + 3 * 3600, status_min=400), by=["day"])
    assert sum(r["requests"] for r in rows) == sum(
        1 for i in range(3, 30) if record(i)["status"] >= 400
    )


async def test_totals_refuse_unknown_groups_and_answer_one_row_when_empty(log: UsageLog) -> None:
    with pytest.raises(InvalidRequest):
        await log.totals(UsageQuery(), by=["provider; DROP TABLE usage_records"])
    (empty,) = await log.totals(UsageQuery())
    assert empty["requests"] == 0 and Decimal(empty["cost_usd"]) == 0
    assert await log.totals(UsageQuery(), by=["model"]) == []


async def test_page_size_is_bounded(log: UsageLog) -> None:
    await log.append(DATA)
    assert len((await log.query(UsageQuery(limit=0))).records) == 1
    assert len((await log.query(UsageQuery(limit=10**9))).records) == 60


def test_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(SQLiteUsageLog(SQLiteDatabase(tmp_path / "x.db")), UsageLog)
    assert isinstance(PostgresUsageLog(PostgresDatabase("postgresql://h/db")), UsageLog)


_WORKER = """
import asyncio, sys
from pathlib import Path
from plano.store.db import SQLiteDatabase
from plano.store.usage import SQLiteUsageLog
from tests.store.test_usage import record

async def main(path, offset):
    log = SQLiteUsageLog(SQLiteDatabase(Path(path)))
    for start in range(0, 1000, 100):
        await log.append([record(offset + i) for i in range(start, start + 100)])
    await log.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_worker_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, str(path), str(offset), stderr=subprocess.PIPE
        )
        for offset in (0, 100_000, 200_000)
    ]
    for p in procs:
        _, err = await p.communicate()
        assert p.returncode == 0, err.decode()
    log = SQLiteUsageLog(SQLiteDatabase(path))
    (totals,) = await log.totals(UsageQuery())
    assert totals["requests"] == 3000
    await log.close()


async def test_an_unusable_sqlite_path_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    log = SQLiteUsageLog(SQLiteDatabase(tmp_path / "a-file" / "state.db"))
    with pytest.raises(StoreUnavailable):
        await log.append([record(1)])
    await log.close()


async def test_stores_on_one_file_share_one_connection_and_thread(tmp_path: Path) -> None:
    from tests.state.test_store import rec

    from plano.state.sqlite import SQLiteResponseStore

    path = tmp_path / "state.db"
    responses = SQLiteResponseStore(path)
    log = SQLiteUsageLog(SQLiteDatabase.shared(path))
    assert log.db is responses._db
    await responses.put(rec("r1"))
    await log.append([record(1)])
    await responses.close()
    assert await log.find("req-000001") is not None  # still open for the other holder
    await log.close()
    await log.close()  # idempotent: the holder gives its share back once
    again = SQLiteDatabase.shared(path)
    assert again is not log.db  # the last close closed it; a new one opens
    await again.close()
