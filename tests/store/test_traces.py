"""Recent traces on every durable backend: parts appended (a part stored twice is one row),
grouped into traces, filtered by summary fields and span attributes, read whole, pruned by
count and age."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.store import test_migrations

from plano.store.db import PostgresDatabase, SQLiteDatabase
from plano.store.traces import PostgresTraceLog, SQLiteTraceLog, TraceLog, TraceQuery, summarize

pg_url = test_migrations.pg_url


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
async def made(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    clock = Clock()

    def make(**kw: Any) -> TraceLog:
        if request.param == "sqlite":
            return SQLiteTraceLog(SQLiteDatabase(tmp_path / f"s{len(logs)}.db"), clock=clock, **kw)
        url = request.getfixturevalue("pg_url")
        return PostgresTraceLog(PostgresDatabase(url), clock=clock, **kw)

    logs: list[TraceLog] = []

    def factory(**kw: Any) -> TraceLog:
        log = make(**kw)
        logs.append(log)
        return log

    factory.clock = clock  # type: ignore[attr-defined]
    yield factory
    for log in logs:
        await log.close()


def part(
    trace: int, n: int = 0, *, start: float | None = None, parent: str | None = None, **over: Any
) -> dict[str, Any]:
    trace_id = f"{trace:032x}"
    part_id = f"{trace * 100 + n + 1:016x}"
    spans = [
        {
            "span_id": part_id,
            "parent_id": parent,
            "name": "POST /v1/chat/completions",
            "service": "plano(inbound)",
            "start_ns": int((start or time.time()) * 1e9),
            "end_ns": int((start or time.time()) * 1e9) + 5_000_000,
            "attributes": {"gen_ai.provider.name": "openai", "workspace.id": f"w{trace}"},
        }
    ]
    return {
        "trace_id": trace_id,
        "part_id": part_id,
        "parent_id": parent,
        "started_at": start if start is not None else time.time(),
        "duration_ms": 5.0,
        "root_name": "POST /v1/chat/completions",
        "service": "plano(inbound)",
        "status": "ok",
        "model": "gpt-4o-mini",
        "request_id": f"req-{trace}-{n}",
        "principal": None,
        "route": None,
        "tokens": 10,
        "cost": "0.001",
        "errors": 0,
        "span_count": 1,
        "spans": orjson.dumps(spans).decode(),
        **over,
    }


async def test_parts_of_one_trace_are_one_summary(made: Any) -> None:
    log = made()
    now = time.time()
    top = part(1, 0, start=now - 1)
    # an agent called back in: another part of the same trace, under the first
    inner = part(1, 1, start=now - 0.5, parent=top["part_id"], tokens=5, cost="0.002")
    await log.append([top, inner, part(2, start=now)])
    await log.append([top])  # stored again: ignored
    traces = await log.traces(TraceQuery(limit=10))
    assert [t["trace_id"] for t in traces] == [f"{2:032x}", f"{1:032x}"]
    one = traces[1]
    assert one["tokens"] == 15 and one["span_count"] == 2 and one["cost"] == "0.003"
    assert one["request_id"] == "req-1-0"  # the top part's
    spans = await log.trace(f"{1:032x}")
    assert spans is not None and len(spans) == 2
    assert spans[0]["start_ns"] <= spans[1]["start_ns"]
    assert await log.trace("f" * 32) is None


async def test_where_since_and_limit(made: Any) -> None:
    log = made()
    now = time.time()
    await log.append(
        [
            part(1, start=now - 100, model="a", status="error", errors=1),
            part(2, start=now - 10, model="b"),
            part(3, start=now - 5, model="b"),
        ]
    )
    ids = lambda ts: [int(t["trace_id"], 16) for t in ts]  # noqa: E731
    assert ids(await log.traces(TraceQuery(where=(("model", "b"),)))) == [3, 2]
    assert ids(await log.traces(TraceQuery(where=(("status", "error"),)))) == [1]
    assert ids(await log.traces(TraceQuery(where=(("workspace.id", "w2"),)))) == [2]
    both = (("model", "b"), ("workspace.id", "w3"))
    assert ids(await log.traces(TraceQuery(where=both))) == [3]
    assert ids(await log.traces(TraceQuery(since=now - 50))) == [3, 2]
    assert ids(await log.traces(TraceQuery(limit=1))) == [3]
    assert await log.traces(TraceQuery(where=(("model", "nope"),))) == []


async def test_retention_by_count_and_age(made: Any) -> None:
    log = made(keep=3, max_age=60.0)
    now = time.time()
    await log.append(
        [part(i, start=now - 30 + i) for i in range(1, 6)] + [part(9, start=now - 120)]
    )
    left = await log.traces(TraceQuery(limit=100))
    assert sorted(int(t["trace_id"], 16) for t in left) == [3, 4, 5]
    made.clock.now += 0.5  # pruned at most once a second
    await log.append([part(6, start=now)])
    assert len(await log.traces(TraceQuery(limit=100))) == 4
    made.clock.now += 1.0
    await log.append([part(7, start=now + 1)])
    left = await log.traces(TraceQuery(limit=100))
    assert sorted(int(t["trace_id"], 16) for t in left) == [5, 6, 7]


def test_summary_status_is_the_callers() -> None:
    # a fallback recovered: the trace answered ok, its failed attempt counts in errors
    parts = [part(1, errors=1)]
    (t,) = summarize(parts, TraceQuery())
    assert t["status"] == "ok" and t["errors"] == 1
