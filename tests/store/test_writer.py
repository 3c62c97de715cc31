"""The usage log's batching writer: batches by size and time, a store that is down (nothing
dropped until the queue is full, then drops counted and logged at most once an interval),
retries that do not count twice, the flush at shutdown; and the real PostgreSQL going away
and coming back behind a relay."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.store import test_migrations
from tests.store.test_migrations import PG_URL
from tests.store.test_usage_pg_outage import Relay, with_port

from plano.store.db import PostgresDatabase
from plano.store.health import StoreHealth
from plano.store.protocols import StoreUnavailable, UsagePage, UsageQuery
from plano.store.usage import PostgresUsageLog, SQLiteUsageLog
from plano.store.writer import BatchWriter

pg_url = test_migrations.pg_url  # the fixture: a fresh schema per test


class Flaky:
    """A usage log in memory that can be down, slow, or lose the answer to a write it made."""

    def __init__(self) -> None:
        self.inner = SQLiteUsageLog.in_memory()
        self.down = False
        self.delay = 0.0
        #: The next this many appends are written, then reported as failed.
        self.lose_answers = 0
        self.calls: list[int] = []

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.calls.append(len(records))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise StoreUnavailable("the test's store is down")
        await self.inner.append(records)
        if self.lose_answers:
            self.lose_answers -= 1
            raise StoreUnavailable("connection lost after the commit")

    async def find(self, request_id: str) -> dict[str, Any] | None:
        return await self.inner.find(request_id)

    async def query(self, q: UsageQuery) -> UsagePage:
        return await self.inner.query(q)

    async def totals(self, q: UsageQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        return await self.inner.totals(q, by)

    async def close(self) -> None:
        await self.inner.close()


def rec(i: int, cost: str = "0.001") -> dict[str, Any]:
    return {"request_id": f"r{i}", "ts": 1_700_000_000.0 + i, "status": 200, "cost_usd": cost}


@pytest.fixture
async def store() -> AsyncIterator[Flaky]:
    s = Flaky()
    yield s
    await s.close()


async def eventually(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def count(store: Flaky) -> int:
    (row,) = await store.totals(UsageQuery())
    return int(row["requests"])


async def test_records_go_in_batches_by_size_and_by_interval(store: Flaky) -> None:
    w = BatchWriter(store, batch=10, interval=0.2)
    await w.start()
    try:
        started = time.monotonic()
        for i in range(25):
            assert w.submit(rec(i))
        # 25 records: two full batches go at once, the last 5 wait for the interval.
        await eventually(lambda: _ge(store, 20))
        assert time.monotonic() - started < 0.15
        assert store.calls[:2] == [10, 10]
        await eventually(lambda: _ge(store, 25))
        assert store.calls == [10, 10, 5]
        assert (w.written, w.queued, w.dropped) == (25, 0, 0)
    finally:
        await w.close()


async def _ge(store: Flaky, n: int) -> bool:
    return await count(store) >= n


async def test_a_store_that_is_down_drops_nothing_until_the_queue_is_full(
    store: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    health = StoreHealth("durable", "sqlite", "test")
    w = BatchWriter(store, batch=5, interval=0.05, max_queue=20, max_backoff=0.1, health=health)
    store.down = True
    await w.start()
    try:
        with caplog.at_level(logging.WARNING, logger="plano.store"):
            started = time.monotonic()
            for i in range(20):
                assert w.submit(rec(i))  # queued, never waiting for the store
            assert time.monotonic() - started < 0.05
            await eventually(lambda: _true(w.failed_batches >= 2))
            assert health.status == "degraded" and "down" in (health.reason or "")
            assert (w.queued, w.dropped) == (20, 0)
            for i in range(20, 120):  # past the bound: dropped, counted
                assert not w.submit(rec(i))
            assert (w.queued, w.dropped) == (20, 100)
            assert w.pending("r3") is not None and w.pending("r50") is None
            await asyncio.sleep(0.12)
        drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        # A hundred drops within one interval: the first is logged at once, the other 99 in
        # one line once the interval has passed (by the writer's loop): two lines in all.
        assert len(drops) == 2, drops
        assert "dropped 1 record(s), 1 in all" in drops[0]
        assert "dropped 99 record(s), 100 in all" in drops[1]
        store.down = False  # back: the queue is written, the health says so
        await eventually(lambda: _ge(store, 20))
        assert health.status == "ok"
        assert w.stats()["queued"] == 0 and w.stats()["dropped"] == 100
    finally:
        await w.close()


async def _true(value: bool) -> bool:
    return value


async def test_a_batch_retried_after_a_lost_answer_is_not_counted_twice(store: Flaky) -> None:
    w = BatchWriter(store, batch=100, interval=0.02, max_backoff=0.05)
    store.lose_answers = 2  # written, but the writer hears it failed: it writes them again
    await w.start()
    try:
        for i in range(30):
            w.submit(rec(i, cost="0.1"))
        await eventually(lambda: _true(w.written == 30))
        assert len(store.calls) == 3  # the batch went three times
        (row,) = await store.totals(UsageQuery())
        assert row["requests"] == 30 and Decimal(row["cost_usd"]) == Decimal("3.0")
    finally:
        await w.close()


async def test_a_record_the_store_cannot_take_does_not_sink_its_batch(store: Flaky) -> None:
    w = BatchWriter(store, batch=10, interval=0.02)
    await w.start()
    try:
        w.submit(rec(1))
        w.submit({"request_id": "bad", "ts": "yesterday", "status": 200})
        w.submit(rec(2))
        await eventually(lambda: _true(w.queued == 0))
        assert await count(store) == 2 and w.dropped == 1
    finally:
        await w.close()


async def test_close_writes_what_is_left_and_reports_what_it_cannot(store: Flaky) -> None:
    w = BatchWriter(store, batch=500, interval=60.0)  # nothing would go before close
    await w.start()
    for i in range(7):
        w.submit(rec(i))
    assert await w.close(within=2.0) == 0
    assert await count(store) == 7

    down = BatchWriter(store, batch=500, interval=0.01, max_backoff=0.02)
    store.down = True
    await down.start()
    down.submit(rec(100))
    started = time.monotonic()
    assert await down.close(within=0.3) == 1  # retried until the time limit, then given up
    assert 0.25 < time.monotonic() - started < 1.0


async def test_flush_ignores_the_backoff_and_is_bounded(store: Flaky) -> None:
    w = BatchWriter(store, batch=500, interval=0.01, max_backoff=10.0)
    store.down = True
    await w.start()
    try:
        w.submit(rec(1))
        await eventually(lambda: _true(w.failed_batches >= 1))
        store.down = False
        assert await w.flush(1.0)  # a reader's flush does not wait out the backoff
        assert await count(store) == 1
        store.delay = 1.0
        w.submit(rec(2))
        started = time.monotonic()
        assert not await w.flush(0.1)
        assert time.monotonic() - started < 0.5
    finally:
        store.delay = 0.0
        await w.close()


async def test_postgres_going_away_and_back_under_the_writer(pg_url: str) -> None:
    """The real server behind a relay we cut: nothing dropped until the queue is full, the
    drops counted, everything queued written once the server is back, each record once."""
    parts = urlsplit(PG_URL)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    await relay.start()
    db = PostgresDatabase(with_port(pg_url, relay.port), min_backoff=0.05, max_backoff=0.2)
    log = PostgresUsageLog(db)
    health = StoreHealth("durable", "postgres", "test")
    w = BatchWriter(log, batch=50, interval=0.02, max_queue=300, max_backoff=0.1, health=health)
    await w.start()
    try:
        for i in range(100):
            w.submit(rec(i, cost="0.01"))
        await eventually(lambda: _true(w.written == 100))
        await relay.cut()
        for i in range(100, 400):  # 300: exactly the queue's bound
            assert w.submit(rec(i, cost="0.01"))
        await eventually(lambda: _true(w.failed_batches > 0 and health.status == "degraded"))
        for i in range(400, 450):
            assert not w.submit(rec(i, cost="0.01"))
        assert (w.queued, w.dropped) == (300, 50)
        await relay.start()
        await eventually(lambda: _true(w.queued == 0), within=10)
        assert health.status == "ok"
        (row,) = await log.totals(UsageQuery())
        assert row["requests"] == 400 and Decimal(row["cost_usd"]) == Decimal("4.00")
    finally:
        await w.close(within=1.0)
        await log.close()
        await relay.cut()
