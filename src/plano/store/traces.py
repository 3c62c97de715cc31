"""Recent traces the gateway keeps itself (``trace_parts``) on SQLite and PostgreSQL.

A part is what one process recorded of a trace: a request's spans and the hops it made, as
one row (summary columns and the spans as one JSON array). Parts are appended in batches by a
:class:`~plano.store.writer.BatchWriter`; retention (count and age) is applied on append at
most once a second. Reads group parts into traces; ``where`` filters (``key=value``) match a
summary column or any span's attribute, worked out off the event loop (SQLite: on the
database's thread; PostgreSQL: in a thread after the fetch). Values are parameters; no SQL is
built from a client's strings.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson

from plano.store.db import PostgresDatabase, SQLiteDatabase, sqlite_transaction

__all__ = [
    "COLUMNS",
    "SUMMARY_KEYS",
    "PostgresTraceLog",
    "SQLiteTraceLog",
    "TraceLog",
    "TraceQuery",
    "summarize",
]

COLUMNS: tuple[str, ...] = (
    "trace_id",
    "part_id",
    "parent_id",
    "started_at",
    "duration_ms",
    "root_name",
    "service",
    "status",
    "model",
    "request_id",
    "principal",
    "route",
    "tokens",
    "cost",
    "errors",
    "span_count",
    "spans",
)
#: ``where`` keys answered from a part's summary; any other key matches span attributes.
SUMMARY_KEYS = frozenset(
    {"trace_id", "service", "status", "model", "request_id", "principal", "route", "root_name"}
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM trace_parts"
#: Parts read at most for one list (the newest first).
_MAX_SCAN = 5000
_MAX_LIMIT = 500
_PRUNE_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class TraceQuery:
    limit: int = 50
    since: float | None = None
    where: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@runtime_checkable
class TraceLog(Protocol):
    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Store a batch of parts (one transaction); a part already stored is ignored."""
        ...

    async def traces(self, q: TraceQuery) -> list[dict[str, Any]]:
        """Trace summaries, newest first."""
        ...

    async def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        """Every span of one trace (``None``: not kept)."""
        ...

    async def close(self) -> None: ...


def _row(r: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(r.get(c) for c in COLUMNS)


def _matches(part: dict[str, Any], where: Sequence[tuple[str, str]]) -> bool:
    spans: list[dict[str, Any]] | None = None
    for key, value in where:
        if key in SUMMARY_KEYS:
            if str(part.get(key)) != value:
                return False
            continue
        if spans is None:
            spans = _spans(part)
        if not any(str(s.get("attributes", {}).get(key)) == value for s in spans):
            return False
    return True


def _spans(part: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = part.get("spans")
    if isinstance(raw, str | bytes):
        loaded: list[dict[str, Any]] = orjson.loads(raw)
        return loaded
    return list(raw or [])


def _add_cost(a: str | None, b: str | None) -> str | None:
    if b is None:
        return a
    try:
        return str(Decimal(a or "0") + Decimal(b))
    except InvalidOperation:
        return a


def summarize(parts: Sequence[dict[str, Any]], q: TraceQuery) -> list[dict[str, Any]]:
    """Parts (newest first) grouped into trace summaries (the API's list shape), filtered by
    ``q.where`` (a trace is kept when one of its parts matches), ``q.limit`` of them. Pure."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in parts:
        groups.setdefault(p["trace_id"], []).append(p)
    out: list[dict[str, Any]] = []
    for trace_id, group in groups.items():
        if q.where and not any(_matches(p, q.where) for p in group):
            continue
        out.append(_summary(trace_id, group))
    out.sort(key=lambda t: t["started_at"], reverse=True)
    return out[: q.limit]


def _summary(trace_id: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {p["part_id"] for p in group}
    # The trace's top part: one whose parent is not another kept part, the earliest.
    tops = [p for p in group if p.get("parent_id") not in ids] or group
    top = min(tops, key=lambda p: p["started_at"])
    start = min(p["started_at"] for p in group)
    end = max(p["started_at"] + p["duration_ms"] / 1000 for p in group)
    cost: str | None = None
    for p in group:
        cost = _add_cost(cost, p.get("cost"))
    errors = sum(int(p.get("errors") or 0) for p in group)
    return {
        "trace_id": trace_id,
        "started_at": start,
        "duration_ms": round((end - start) * 1000, 3),
        "root_name": top["root_name"],
        "service": top["service"],
        # The outcome the caller got; failed attempts a fallback recovered show in errors.
        "status": top["status"],
        "model": top.get("model"),
        "request_id": top.get("request_id"),
        "principal": top.get("principal"),
        "route": top.get("route"),
        "tokens": sum(int(p.get("tokens") or 0) for p in group),
        "cost": cost,
        "errors": errors,
        "span_count": sum(int(p.get("span_count") or 0) for p in group),
    }


def _all_spans(parts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    if not parts:
        return None
    spans = [s for p in parts for s in _spans(p)]
    spans.sort(key=lambda s: s.get("start_ns", 0))
    return spans


class _Retention:
    """When to prune, and what (count and age)."""

    def __init__(self, keep: int, max_age: float, clock: Callable[[], float]) -> None:
        self.keep = keep
        self.max_age = max_age
        self._clock = clock
        self._last = -1e18

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < _PRUNE_EVERY:
            return False
        self._last = now
        return True

    def oldest(self) -> float:
        return time.time() - self.max_age


_DB = TypeVar("_DB", SQLiteDatabase, PostgresDatabase)


class _SQLTraceLog(Generic[_DB]):
    """What the SQLite and PostgreSQL trace logs share: their database, the retention
    (``keep`` newest parts, none older than ``max_age`` seconds), closing once."""

    db: _DB

    def __init__(
        self,
        db: _DB,
        *,
        keep: int = 1000,
        max_age: float = 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._retention = _Retention(keep, max_age, clock)
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.db.close()


def _scan_size(q: TraceQuery) -> int:
    """How many of the newest parts a listing reads (all it may when ``where`` filters)."""
    return _MAX_SCAN if q.where else min(_MAX_SCAN, max(q.limit, 1) * 8)


class SQLiteTraceLog(_SQLTraceLog[SQLiteDatabase]):
    """Recent traces in the host's SQLite file (shared by its workers)."""

    @classmethod
    def in_memory(cls, **kw: Any) -> SQLiteTraceLog:
        return cls(SQLiteDatabase(Path(":memory:")), **kw)

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        sql = (
            f"INSERT INTO trace_parts ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT DO NOTHING"
        )
        prune = self._retention.due()
        keep, oldest = self._retention.keep, self._retention.oldest()

        def write(conn: sqlite3.Connection) -> None:
            rows = [_row(r) for r in records]
            with sqlite_transaction(conn):
                conn.executemany(sql, rows)
                if prune:
                    conn.execute("DELETE FROM trace_parts WHERE started_at < ?", (oldest,))
                    conn.execute(
                        "DELETE FROM trace_parts WHERE started_at < (SELECT started_at FROM "
                        "trace_parts ORDER BY started_at DESC LIMIT 1 OFFSET ?)",
                        (max(keep - 1, 0),),
                    )

        await self.db.run(write)

    async def traces(self, q: TraceQuery) -> list[dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return summarize(_scan(conn, q), q)

        return await self.db.run(read)

    async def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]] | None:
            rows = conn.execute(_SELECT + " WHERE trace_id = ?", (trace_id,)).fetchall()
            return _all_spans([dict(zip(COLUMNS, r, strict=True)) for r in rows])

        return await self.db.run(read)


def _scan(conn: sqlite3.Connection, q: TraceQuery) -> list[dict[str, Any]]:
    params: list[Any] = []
    where = ""
    if q.since is not None:
        where = " WHERE started_at >= ?"
        params.append(float(q.since))
    n = _scan_size(q)
    params.append(n)
    sql = _SELECT + where + " ORDER BY started_at DESC LIMIT ?"
    return [dict(zip(COLUMNS, r, strict=True)) for r in conn.execute(sql, params).fetchall()]


_PG_TYPES = dict.fromkeys(COLUMNS, "text") | {
    "started_at": "float8",
    "duration_ms": "float8",
    "tokens": "int8",
    "errors": "int4",
    "span_count": "int4",
}
_PG_INSERT = (
    f"INSERT INTO trace_parts ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(COLUMNS)} FROM jsonb_to_recordset($1::text::jsonb) AS x("
    + ", ".join(f"{c} {_PG_TYPES[c]}" for c in COLUMNS)
    + ") ON CONFLICT DO NOTHING"
)


class PostgresTraceLog(_SQLTraceLog[PostgresDatabase]):
    """Recent traces in PostgreSQL, shared by every replica; a batch is one statement."""

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        rows = [{c: r.get(c) for c in COLUMNS} for r in records]
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(_PG_INSERT, orjson.dumps(rows).decode())
            if self._retention.due():
                keep = max(self._retention.keep - 1, 0)
                await conn.execute(
                    "DELETE FROM trace_parts WHERE started_at < $1", self._retention.oldest()
                )
                await conn.execute(
                    "DELETE FROM trace_parts WHERE started_at < (SELECT started_at FROM "
                    "trace_parts ORDER BY started_at DESC LIMIT 1 OFFSET $1)",
                    keep,
                )

    async def traces(self, q: TraceQuery) -> list[dict[str, Any]]:
        n = _scan_size(q)
        async with self.db.connection() as conn:
            if q.since is not None:
                rows = await conn.fetch(
                    _SELECT + " WHERE started_at >= $1 ORDER BY started_at DESC LIMIT $2",
                    float(q.since),
                    n,
                )
            else:
                rows = await conn.fetch(_SELECT + " ORDER BY started_at DESC LIMIT $1", n)
        parts = [dict(r) for r in rows]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, summarize, parts, q)

    async def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_SELECT + " WHERE trace_id = $1", trace_id)
        parts = [dict(r) for r in rows]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _all_spans, parts)


def clamp_limit(limit: int) -> int:
    return max(1, min(int(limit), _MAX_LIMIT))
