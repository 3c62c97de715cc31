"""Virtual keys made through the admin API, in the durable store (SQLite or PostgreSQL).

A key is ``pk-`` and 43 URL-safe characters: 256 random bits. Only its SHA-256 digest is
stored (:func:`hash_key`): with that much entropy a fast hash cannot be searched, so no
salt, key stretching or server secret is needed, and every worker and replica finds a key
by its digest with one indexed read. The plaintext is returned once, when the key is made.

Keys declared in the config (static keys) never reach this table; the auth filter keeps
their digests in memory. Lookups are cached by the caller (``plano.filters.keys``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from plano.errors import ClientError
from plano.store.db import PostgresDatabase, SQLiteDatabase, sqlite_transaction
from plano.store.usage_sql import Params, decode_cursor, encode_cursor

__all__ = [
    "KEY_PREFIX",
    "KeyConflict",
    "KeyPage",
    "KeyQuery",
    "KeyRecord",
    "KeyStore",
    "PostgresKeyStore",
    "SQLiteKeyStore",
    "hash_key",
    "is_dynamic_key",
    "key_hint",
    "new_key",
]

KEY_PREFIX = "pk-"
_DYNAMIC = re.compile(r"pk-[A-Za-z0-9_-]{43}")
_MAX_PAGE = 1000


def new_key() -> str:
    """A fresh key: ``pk-`` and 256 random bits, URL-safe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The digest a key is stored and looked up by (hex SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_dynamic_key(token: str) -> bool:
    """Whether ``token`` has the shape of a key :func:`new_key` makes (only such tokens are
    looked up in the store; anything else can only be a static key)."""
    return _DYNAMIC.fullmatch(token) is not None


def key_hint(key: str) -> str:
    """What listings show of a key: its prefix and last four characters."""
    return f"{key[:3]}...{key[-4:]}" if len(key) >= 12 else "..."


class KeyConflict(ClientError):
    """A key id that is already taken (409)."""

    status = 409
    metric_label = "conflict"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key, without its plaintext. ``user``/``team``/``tenant``/``tags`` make its
    principal; ``models`` and ``agents`` are glob patterns it may use (empty: any);
    ``budgets`` and ``rate_limits`` name limits the budget filters apply to it."""

    id: str
    key_hash: str = field(repr=False)
    hint: str
    created_at: float
    name: str | None = None
    user: str | None = None
    team: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    budgets: tuple[str, ...] = ()
    rate_limits: tuple[str, ...] = ()
    expires_at: float | None = None
    revoked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """What the admin API shows: everything but the digest."""
        return {
            "id": self.id,
            "name": self.name,
            "hint": self.hint,
            "user": self.user,
            "team": self.team,
            "tenant": self.tenant,
            "tags": list(self.tags),
            "models": list(self.models),
            "agents": list(self.agents),
            "budgets": list(self.budgets),
            "rate_limits": list(self.rate_limits),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


_SPEC_FIELDS = ("tags", "models", "agents", "budgets", "rate_limits")
_COLUMNS = (
    "id, key_hash, hint, name, user_name, team, tenant, spec, created_at, expires_at, revoked_at"
)


def _row(r: KeyRecord) -> tuple[Any, ...]:
    spec = orjson.dumps({f: list(getattr(r, f)) for f in _SPEC_FIELDS}).decode()
    return (
        *(r.id, r.key_hash, r.hint, r.name, r.user, r.team, r.tenant, spec),
        *(r.created_at, r.expires_at, r.revoked_at),
    )


def _record(row: Sequence[Any]) -> KeyRecord:
    spec = row[7]
    data = orjson.loads(spec) if isinstance(spec, str | bytes) else dict(spec or {})
    lists = {f: tuple(str(v) for v in data.get(f) or ()) for f in _SPEC_FIELDS}
    return KeyRecord(
        id=row[0],
        key_hash=row[1],
        hint=row[2],
        name=row[3],
        user=row[4],
        team=row[5],
        tenant=row[6],
        created_at=float(row[8]),
        expires_at=row[9],
        revoked_at=row[10],
        **lists,
    )


@dataclass(frozen=True, slots=True)
class KeyQuery:
    """Filters and paging for listing keys, newest first."""

    user: str | None = None
    team: str | None = None
    tenant: str | None = None
    include_revoked: bool = False
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class KeyPage:
    keys: list[KeyRecord]
    next: str | None


def _where(q: KeyQuery, params: Params) -> tuple[str, int]:
    conds: list[str] = []
    for column, value in (("user_name", q.user), ("team", q.team), ("tenant", q.tenant)):
        if value is not None:
            conds.append(f"{column} = {params.add(value)}")
    if not q.include_revoked:
        conds.append("revoked_at IS NULL")
    if q.cursor:
        ts, kid = decode_cursor(q.cursor)
        conds.append(f"(created_at, id) < ({params.add(ts)}, {params.add(kid)})")
    limit = max(1, min(int(q.limit), _MAX_PAGE))
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"{where} ORDER BY created_at DESC, id DESC LIMIT {params.add(limit + 1)}", limit


def _page(records: list[KeyRecord], limit: int) -> KeyPage:
    last = records[limit - 1] if len(records) > limit else None
    cursor = encode_cursor(last.created_at, last.id) if last is not None else None
    return KeyPage(records[:limit], cursor)


@runtime_checkable
class KeyStore(Protocol):
    """Stored virtual keys. ``create`` raises :class:`KeyConflict` for a taken id; the others
    raise :class:`~plano.store.protocols.StoreUnavailable` when the store is down."""

    async def create(self, record: KeyRecord) -> None: ...

    async def by_hash(self, key_hash: str) -> KeyRecord | None: ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def list(self, q: KeyQuery) -> KeyPage: ...

    async def revoke(self, key_id: str, at: float) -> KeyRecord | None:
        """Mark the key revoked (a key revoked before keeps its first time); the record, or
        ``None`` when there is no such key."""
        ...

    async def close(self) -> None: ...


def _conflict(key_id: str) -> KeyConflict:
    return KeyConflict(f"A key with id '{key_id}' already exists.", code="key_exists", param="id")


class SQLiteKeyStore:
    """Keys in the host's SQLite file (shared by its workers)."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._closed = False

    async def create(self, record: KeyRecord) -> None:
        sql = f"INSERT INTO api_keys ({_COLUMNS}) VALUES ({', '.join('?' * 11)})"

        def write(conn: sqlite3.Connection) -> None:
            with sqlite_transaction(conn):
                conn.execute(sql, _row(record))

        try:
            await self.db.run(write)
        except sqlite3.IntegrityError as exc:
            raise _conflict(record.id) from exc

    async def _one(self, column: str, value: str) -> KeyRecord | None:
        sql = f"SELECT {_COLUMNS} FROM api_keys WHERE {column} = ?"

        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute(sql, (value,)).fetchone()

        row = await self.db.run(read)
        return _record(row) if row is not None else None

    async def by_hash(self, key_hash: str) -> KeyRecord | None:
        return await self._one("key_hash", key_hash)

    async def get(self, key_id: str) -> KeyRecord | None:
        return await self._one("id", key_id)

    async def list(self, q: KeyQuery) -> KeyPage:
        params = Params("sqlite")
        tail, limit = _where(q, params)
        sql = f"SELECT {_COLUMNS} FROM api_keys{tail}"

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, params.values).fetchall()

        return _page([_record(r) for r in await self.db.run(read)], limit)

    async def revoke(self, key_id: str, at: float) -> KeyRecord | None:
        sql = (
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? "
            f"RETURNING {_COLUMNS}"
        )

        def write(conn: sqlite3.Connection) -> Any:
            with sqlite_transaction(conn):
                return conn.execute(sql, (at, key_id)).fetchone()

        row = await self.db.run(write)
        return _record(row) if row is not None else None

    async def close(self) -> None:
        if not self._closed:  # the database may be shared: give it back once
            self._closed = True
            await self.db.close()


class PostgresKeyStore:
    """Keys in PostgreSQL, shared by every replica."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._closed = False

    async def create(self, record: KeyRecord) -> None:
        marks = ", ".join(f"${i}" for i in range(1, 12))
        sql = f"INSERT INTO api_keys ({_COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        async with self.db.connection() as conn:
            status = await conn.execute(sql, *_row(record))
        if status.endswith(" 0"):  # "INSERT 0 0": the id (or, never in practice, the hash)
            raise _conflict(record.id)

    async def _one(self, column: str, value: str) -> KeyRecord | None:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE {column} = $1", value)
        return _record(tuple(row)) if row is not None else None

    async def by_hash(self, key_hash: str) -> KeyRecord | None:
        return await self._one("key_hash", key_hash)

    async def get(self, key_id: str) -> KeyRecord | None:
        return await self._one("id", key_id)

    async def list(self, q: KeyQuery) -> KeyPage:
        params = Params("postgres")
        tail, limit = _where(q, params)
        async with self.db.connection() as conn:
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys{tail}", *params.values)
        return _page([_record(tuple(r)) for r in rows], limit)

    async def revoke(self, key_id: str, at: float) -> KeyRecord | None:
        sql = (
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 "
            f"RETURNING {_COLUMNS}"
        )
        async with self.db.connection() as conn:
            row = await conn.fetchrow(sql, at, key_id)
        return _record(tuple(row)) if row is not None else None

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.db.close()
