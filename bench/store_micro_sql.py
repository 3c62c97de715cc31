"""Durable usage records, SQLite vs PostgreSQL (prints one JSON object):

* appending a batch of 500 records (one transaction; what the batching writer does every
  100 ms or 500 records): wall time, and this process's CPU time (what a worker pays);
* a totals query over 100,000 records: everything, and grouped by provider and model, by day;
* one page of 100 records, newest first, with a filter.

Run: ``python -m bench.store_micro_sql [--postgres URL] [--records N]``. PostgreSQL runs in a
fresh schema, dropped afterwards; SQLite in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["main"]

T0 = 1_700_000_000.0


def _record(i: int) -> dict[str, Any]:
    return {
        "request_id": f"bench-{i:08d}",
        "ts": round(T0 + i * 0.05, 3),
        "shape": "openai_chat",
        "model_requested": "fast",
        "provider": ("openai", "anthropic", "gemini")[i % 3],
        "model": f"model-{i % 12}",
        "status": 200 if i % 20 else 502,
        "stream": i % 2 == 0,
        "input_tokens": 200 + i % 500,
        "output_tokens": 50 + i % 300,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "usage_estimated": False,
        "cost_usd": str(Decimal(150 + i % 997) / Decimal(10**7)),
        "total_ms": 812.25,
        "overhead_ms": 0.4,
        "ttft_ms": 120.5,
        "attempts": 1,
        "error": None,
        "principal": f"team-{i % 40}",
        "session": f"s-{i % 5000}",
    }


async def _timed(fn: Callable[[], Awaitable[Any]], runs: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        await fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {
        "wall_ms": round(statistics.median(walls) * 1e3, 2),
        "cpu_ms": round(statistics.median(cpus) * 1e3, 2),
    }


async def _measure(log: Any, records: int) -> dict[str, Any]:
    from plano.store.protocols import UsageQuery

    batch = 500
    fill = time.perf_counter()
    for start in range(0, records, batch):
        await log.append([_record(i) for i in range(start, start + batch)])
    fill_s = time.perf_counter() - fill
    fresh = iter(range(records, records + 100 * batch, batch))

    async def append() -> None:
        start = next(fresh)
        await log.append([_record(i) for i in range(start, start + batch)])

    async def retried() -> None:  # the same batch again: every record a conflict
        await log.append([_record(i) for i in range(batch)])

    out: dict[str, Any] = {"fill_records_per_s": round(records / fill_s)}
    out["append_500"] = await _timed(append, 20)
    out["append_500_all_duplicates"] = await _timed(retried, 5)
    out["totals_all"] = await _timed(lambda: log.totals(UsageQuery()), 5)
    out["totals_by_provider_model"] = await _timed(
        lambda: log.totals(UsageQuery(), by=["provider", "model"]), 5
    )
    out["totals_by_day"] = await _timed(lambda: log.totals(UsageQuery(), by=["day"]), 5)
    out["totals_one_principal"] = await _timed(
        lambda: log.totals(UsageQuery(principal="team-7")), 5
    )
    out["page_100_filtered"] = await _timed(
        lambda: log.query(UsageQuery(provider="openai", limit=100)), 20
    )
    return out


async def _sqlite(records: int) -> dict[str, Any]:
    from plano.store.db import SQLiteDatabase
    from plano.store.usage import SQLiteUsageLog

    with tempfile.TemporaryDirectory() as tmp:
        log = SQLiteUsageLog(SQLiteDatabase(Path(tmp) / "state.db"))
        try:
            return await _measure(log, records)
        finally:
            await log.close()


async def _postgres(url: str, records: int) -> dict[str, Any]:
    import asyncpg

    from plano.store.db import PostgresDatabase
    from plano.store.usage import PostgresUsageLog

    schema = "plano_bench_" + os.urandom(4).hex()
    admin = await asyncpg.connect(url, timeout=3)
    await admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    log = PostgresUsageLog(PostgresDatabase(f"{url}{sep}search_path={schema}"))
    try:
        return await _measure(log, records)
    finally:
        await log.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--skip-postgres", action="store_true")
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    result: dict[str, Any] = {"records": args.records}
    result["sqlite"] = asyncio.run(_sqlite(args.records))
    if not args.skip_postgres:
        result["postgres"] = asyncio.run(_postgres(args.postgres, args.records))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
