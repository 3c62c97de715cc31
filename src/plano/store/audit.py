"""The audit trail's durable records (``audit_events``) on SQLite and PostgreSQL.

An event is a flat mapping (:data:`FIELDS`): one per decision a filter or policy made about a
request (``kind: request``), one per admin action (``kind: admin``). Events are appended in
batches by a :class:`~plano.store.writer.BatchWriter` (an id already stored is ignored, so a
retried batch, or the same reload seen by every worker, is one row) and read newest first
with a keyset cursor over ``(ts, id)``. Filter values are parameters; no SQL is built from a
client's strings.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from plano.store.db import PostgresDatabase, SQLiteDatabase, sqlite_transaction
from plano.store.usage_sql import Params, decode_cursor, encode_cursor

__all__ = [
    "FIELDS",
    "AuditLog",
    "AuditPage",
    "AuditQuery",
    "PostgresAuditLog",
    "SQLiteAuditLog",
]

#: An event's fields, in table order (``user`` is stored as ``user_name``).
FIELDS: tuple[str, ...] = (
    "id",
    "ts",
    "kind",
    "request_id",
    # The client's x-request-id (migration 0006); request_id is the gateway's own.
    "client_request_id",
    "trace_id",
    "listener",
    "principal",
    "principal_kind",
    "user",
    "team",
    "tenant",
    "model_requested",
    "model",
    "status",
    "source",
    "action",
    "rule",
    "reason",
    "target",
    "detail",
)
_COLUMNS = tuple("user_name" if f == "user" else f for f in FIELDS)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM audit_events"
_ORDER = " ORDER BY ts DESC, id DESC"
_MAX_PAGE = 1000
#: Longest text kept of a free-text field (a reason, a model name a client chose).
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters and paging; every field is optional. ``until`` is exclusive."""

    since: float | None = None
    until: float | None = None
    principal: str | None = None
    action: str | None = None
    source: str | None = None
    request_id: str | None = None
    kind: str | None = None
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[dict[str, Any]]
    next: str | None


@runtime_checkable
class AuditLog(Protocol):
    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Store a batch (one transaction); an id already stored is ignored."""
        ...

    async def query(self, q: AuditQuery) -> AuditPage: ...

    async def close(self) -> None: ...


def _text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "..."
    return value


def row_from_event(e: Mapping[str, Any]) -> tuple[Any, ...]:
    """An event as a row in :data:`FIELDS` order; raises ValueError on one that cannot be
    stored (no id, time, source or action)."""
    eid = e.get("id")
    ts = e.get("ts")
    if not isinstance(eid, str) or not eid:
        raise ValueError("an audit event needs an id")
    if not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueError(f"audit event {eid}: ts must be epoch seconds")
    if not e.get("source") or not e.get("action"):
        raise ValueError(f"audit event {eid}: source and action are required")
    values = [_text(e.get(f)) for f in FIELDS]
    values[1] = float(ts)
    detail = e.get("detail")
    values[-1] = orjson.dumps(detail).decode() if detail else None
    return tuple(values)


def event_from_row(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(FIELDS, row, strict=True))
    detail = out["detail"]
    out["detail"] = orjson.loads(detail) if isinstance(detail, str | bytes) else detail
    return out


def _where(q: AuditQuery, params: Params) -> tuple[str, int]:
    conds: list[str] = []
    if q.since is not None:
        conds.append(f"ts >= {params.add(float(q.since))}")
    if q.until is not None:
        conds.append(f"ts < {params.add(float(q.until))}")
    for name in ("principal", "action", "source", "kind"):
        value = getattr(q, name)
        if value is not None:
            conds.append(f"{name} = {params.add(value)}")
    if q.request_id is not None:  # Plano's request id or a client's x-request-id
        rid = q.request_id
        conds.append(f"(request_id = {params.add(rid)} OR client_request_id = {params.add(rid)})")
    if q.cursor:
        ts, eid = decode_cursor(q.cursor)
        conds.append(f"(ts, id) < ({params.add(ts)}, {params.add(eid)})")
    limit = max(1, min(int(q.limit), _MAX_PAGE))
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"{where}{_ORDER} LIMIT {params.add(limit + 1)}", limit


def _page(rows: Sequence[Sequence[Any]], limit: int) -> AuditPage:
    events = [event_from_row(r) for r in rows[:limit]]
    last = events[-1] if len(rows) > limit else None
    return AuditPage(events, encode_cursor(last["ts"], last["id"]) if last else None)


class SQLiteAuditLog:
    """Audit events in the host's SQLite file (shared by its workers)."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._closed = False

    @classmethod
    def in_memory(cls) -> SQLiteAuditLog:
        return cls(SQLiteDatabase(Path(":memory:")))

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        sql = (
            f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
        )

        def write(conn: sqlite3.Connection) -> None:
            rows = [row_from_event(e) for e in records]  # on the database's thread
            with sqlite_transaction(conn):
                conn.executemany(sql, rows)

        await self.db.run(write)

    async def query(self, q: AuditQuery) -> AuditPage:
        params = Params("sqlite")
        tail, limit = _where(q, params)

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(_SELECT + tail, params.values).fetchall()

        return _page(await self.db.run(read), limit)

    async def close(self) -> None:
        if not self._closed:  # the database may be shared: give it back once
            self._closed = True
            await self.db.close()


_PG_TYPES = dict.fromkeys(_COLUMNS, "text") | {
    "ts": "float8",
    "status": "int4",
    "detail": "jsonb",
}
# The batch travels as one JSON array, expanded by the server (as the usage log's does).
_PG_INSERT = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join(_COLUMNS)} FROM jsonb_to_recordset($1::text::jsonb) AS x("
    + ", ".join(f"{c} {_PG_TYPES[c]}" for c in _COLUMNS)
    + ") ON CONFLICT (id) DO NOTHING"
)


class PostgresAuditLog:
    """Audit events in PostgreSQL, shared by every replica; a batch is one statement."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._closed = False

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        rows = []
        for e in records:
            row = dict(zip(_COLUMNS, row_from_event(e), strict=True))
            if row["detail"] is not None:
                row["detail"] = orjson.Fragment(row["detail"])
            rows.append(row)
        async with self.db.connection() as conn:
            await conn.execute(_PG_INSERT, orjson.dumps(rows).decode())

    async def query(self, q: AuditQuery) -> AuditPage:
        params = Params("postgres")
        tail, limit = _where(q, params)
        async with self.db.connection() as conn:
            rows = await conn.fetch(_SELECT + tail, *params.values)
        return _page([tuple(r) for r in rows], limit)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.db.close()
