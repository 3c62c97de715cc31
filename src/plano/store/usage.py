"""The ledger's durable records (:class:`~plano.store.protocols.UsageLog`) on SQLite and
PostgreSQL.

Both store a record per request id, the gateway's own (a retried batch is ignored, not counted
twice; the client's ``x-request-id`` is the ``client_request_id`` column), page newest
first with a keyset cursor over ``(ts, request_id)`` (no gaps or repeats while records arrive),
and sum costs exactly: PostgreSQL as ``numeric``, SQLite as integer pico-dollars (see
:func:`plano.store.usage_sql.from_pico`). The SQL shared by both lives in
:mod:`plano.store.usage_sql`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from plano.store.db import PostgresDatabase, SQLiteDatabase, sqlite_transaction
from plano.store.migrations import Dialect
from plano.store.protocols import UsagePage, UsageQuery
from plano.store.usage_sql import (
    COLUMNS,
    TOKENS,
    Params,
    encode_cursor,
    from_pico,
    group_exprs,
    page_limit,
    pico,
    record_from_row,
    row_from_record,
    where,
)

__all__ = ["DEFAULT_MAX_GROUPS", "PostgresUsageLog", "SQLiteUsageLog"]

#: Most rows :meth:`totals` returns (grouping by session or principal can be unbounded).
DEFAULT_MAX_GROUPS = 10_000
_SELECT = f"SELECT {', '.join(COLUMNS)}, extra FROM usage_records"
_ORDER = " ORDER BY ts DESC, request_id DESC"
#: A record by the client's ``x-request-id`` (which a client may repeat): the newest.
_BY_CLIENT_ID = f"{_SELECT} WHERE client_request_id = ?{_ORDER} LIMIT 1"


def _totals_sql(
    q: UsageQuery, by: Sequence[str], dialect: Dialect, max_groups: int
) -> tuple[str, list[Any], list[str]]:
    params = Params(dialect)
    groups = group_exprs(by, dialect)
    cols = [f'{sql} AS "{name}"' for name, sql in groups]  # "user" is reserved in SQL
    cols += [
        "COUNT(*) AS requests",
        "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors",
        *(f"SUM({t}) AS {t}" for t in TOKENS),
        "SUM(CASE WHEN cost_usd IS NULL AND input_tokens IS NOT NULL THEN 1 ELSE 0 END)",
    ]
    if dialect == "sqlite":  # whole micro-dollars and the pico-dollars below: no overflow
        cols += ["SUM(cost_pico / 1000000)", "SUM(cost_pico % 1000000)"]
    else:
        cols += ["SUM(cost_usd)"]
    sql = f"SELECT {', '.join(cols)} FROM usage_records{where(q, params, paging=False)}"
    if groups:
        positions = ", ".join(str(i) for i in range(1, len(groups) + 1))
        sql += f" GROUP BY {positions} ORDER BY {positions} LIMIT {params.add(max_groups)}"
    return sql, params.values, [name for name, _ in groups]


def _totals_row(row: Sequence[Any], names: list[str], dialect: Dialect) -> dict[str, Any]:
    n = len(names)
    out: dict[str, Any] = dict(zip(names, row[:n], strict=True))
    if "stream" in out and out["stream"] is not None:
        out["stream"] = bool(out["stream"])
    requests, errors, *tokens = row[n : n + 2 + len(TOKENS)]
    rest = row[n + 2 + len(TOKENS) :]
    out["requests"] = int(requests)
    out["errors"] = int(errors or 0)
    for name, value in zip(TOKENS, tokens, strict=True):
        out[name] = int(value or 0)
    if dialect == "sqlite":
        cost = from_pico(int(rest[1] or 0), int(rest[2] or 0))
    else:
        cost = Decimal(rest[1] or 0)
    out["cost_usd"] = format(cost.normalize() if cost else Decimal(0), "f")
    out["unpriced_requests"] = int(rest[0] or 0)
    return out


def _page(rows: Sequence[Sequence[Any]], limit: int) -> UsagePage:
    records = [record_from_row(r) for r in rows[:limit]]
    last = records[-1] if len(rows) > limit else None
    return UsagePage(records, encode_cursor(last["ts"], last["request_id"]) if last else None)


class SQLiteUsageLog:
    """Usage records in the host's SQLite file (shared with the host's other workers)."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: SQLiteDatabase, *, max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        self.db = db
        self.max_groups = max_groups
        self._closed = False

    @classmethod
    def in_memory(cls) -> SQLiteUsageLog:
        """A usage log in this process's memory (tests, embedders): nothing is shared or kept."""
        return cls(SQLiteDatabase(Path(":memory:")))

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        marks = ", ".join("?" * (len(COLUMNS) + 2))
        sql = (
            f"INSERT INTO usage_records ({', '.join(COLUMNS)}, cost_pico, extra) "
            f"VALUES ({marks}) ON CONFLICT (request_id) DO NOTHING"
        )
        cost_at = COLUMNS.index("cost_usd")

        def write(conn: sqlite3.Connection) -> None:
            # Converted here, on the database's thread, not on the event loop.
            rows = []
            for r in records:
                values, cost, extra = row_from_record(r)
                values[cost_at] = str(r["cost_usd"]) if cost is not None else None
                rows.append((*values, pico(cost), extra))
            with sqlite_transaction(conn):
                conn.executemany(sql, rows)

        await self.db.run(write)

    async def find(self, request_id: str) -> dict[str, Any] | None:
        def read(conn: sqlite3.Connection) -> Any:
            row = conn.execute(f"{_SELECT} WHERE request_id = ?", (request_id,)).fetchone()
            return row or conn.execute(_BY_CLIENT_ID, (request_id,)).fetchone()

        row = await self.db.run(read)
        return record_from_row(row) if row is not None else None

    async def query(self, q: UsageQuery) -> UsagePage:
        params = Params("sqlite")
        limit = page_limit(q)
        sql = f"{_SELECT}{where(q, params, paging=True)}{_ORDER} LIMIT {params.add(limit + 1)}"

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, params.values).fetchall()

        return _page(await self.db.run(read), limit)

    async def totals(self, q: UsageQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        sql, values, names = _totals_sql(q, by, "sqlite", self.max_groups)

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, values).fetchall()

        return [_totals_row(row, names, "sqlite") for row in await self.db.run(read)]

    async def close(self) -> None:
        if not self._closed:  # the database may be shared: give it back once
            self._closed = True
            await self.db.close()


#: PostgreSQL types of COLUMNS, for the one-statement batch insert.
_PG_TYPES = dict.fromkeys(COLUMNS, "text") | {
    "ts": "float8",
    "status": "int4",
    "stream": "bool",
    **dict.fromkeys(TOKENS, "int8"),
    "usage_estimated": "bool",
    "cost_usd": "numeric",
    "total_ms": "float8",
    "overhead_ms": "float8",
    "ttft_ms": "float8",
    "attempts": "int4",
}
# The batch travels as one JSON array, expanded by the server: encoding 23 arrays of 500
# values cost asyncpg ~10x the client CPU (costs go as strings, so numeric stays exact).
_PG_INSERT = (
    f"INSERT INTO usage_records ({', '.join(COLUMNS)}, extra) "
    f"SELECT {', '.join(COLUMNS)}, extra FROM jsonb_to_recordset($1::text::jsonb) AS x("
    + ", ".join(f"{c} {_PG_TYPES[c]}" for c in COLUMNS)
    + ", extra jsonb) ON CONFLICT (request_id) DO NOTHING"
)


class PostgresUsageLog:
    """Usage records in PostgreSQL, shared by every replica; a batch is one statement."""

    dialect: Dialect = "postgres"

    def __init__(self, db: PostgresDatabase, *, max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        self.db = db
        self.max_groups = max_groups
        self._closed = False

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        cost_at = COLUMNS.index("cost_usd")
        rows = []
        for r in records:
            values, cost, extra = row_from_record(r)
            values[cost_at] = str(cost) if cost is not None else None
            row = dict(zip(COLUMNS, values, strict=True))
            if extra is not None:
                row["extra"] = orjson.Fragment(extra)
            rows.append(row)
        payload = orjson.dumps(rows).decode()
        async with self.db.connection() as conn:
            await conn.execute(_PG_INSERT, payload)

    async def find(self, request_id: str) -> dict[str, Any] | None:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(f"{_SELECT} WHERE request_id = $1", request_id)
            if row is None:
                row = await conn.fetchrow(_BY_CLIENT_ID.replace("?", "$1"), request_id)
        return record_from_row(tuple(row)) if row is not None else None

    async def query(self, q: UsageQuery) -> UsagePage:
        params = Params("postgres")
        limit = page_limit(q)
        sql = f"{_SELECT}{where(q, params, paging=True)}{_ORDER} LIMIT {params.add(limit + 1)}"
        async with self.db.connection() as conn:
            rows = await conn.fetch(sql, *params.values)
        return _page([tuple(r) for r in rows], limit)

    async def totals(self, q: UsageQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        sql, values, names = _totals_sql(q, by, "postgres", self.max_groups)
        async with self.db.connection() as conn:
            rows = await conn.fetch(sql, *values)
        return [_totals_row(tuple(row), names, "postgres") for row in rows]

    async def close(self) -> None:
        if not self._closed:  # the database may be shared: give it back once
            self._closed = True
            await self.db.close()
