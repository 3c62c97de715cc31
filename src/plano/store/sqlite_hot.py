"""Counters and key-value in one SQLite file shared by the workers of one host (the default
with ``workers: N``): see :mod:`plano.store.sqlite_runner` for the threading and locking.

Tables (created by the store, ``hot_`` prefix; hot state needs no migrations: a schema change
may drop them)::

    hot_counters (key, used, expires_at)          spend per key; expires_at from add(ttl)
    hot_holds    (key, rid, amount, expires_at)   one row per key of a live reservation;
                                                  held = SUM(amount) of the unexpired rows
    hot_settled  (rid, forget_at)                 settled / released ids (idempotency)
    hot_windows  (key, bucket, cur, prev, expires_at)
    hot_kv       (key, value, expires_at)

Keys are stored with the store's ``prefix`` in front, so several gateways may share a file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from plano.store.common import (
    SETTLED_MEMORY,
    WindowState,
    fits,
    new_reservation_id,
    window_decide,
)
from plano.store.protocols import Reservation, WindowDecision
from plano.store.sqlite_runner import SQLiteRunner

__all__ = ["SQLiteCounters", "SQLiteKeyValue"]

_COUNTERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS hot_counters (
    key TEXT PRIMARY KEY, used REAL NOT NULL, expires_at REAL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_counters_expiry ON hot_counters (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS hot_holds (
    key TEXT NOT NULL, rid TEXT NOT NULL, amount REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (key, rid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_holds_rid ON hot_holds (rid);
CREATE INDEX IF NOT EXISTS hot_holds_expiry ON hot_holds (expires_at);
CREATE TABLE IF NOT EXISTS hot_settled (rid TEXT PRIMARY KEY, forget_at REAL NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_settled_expiry ON hot_settled (forget_at);
CREATE TABLE IF NOT EXISTS hot_windows (
    key TEXT PRIMARY KEY, bucket INTEGER NOT NULL, cur REAL NOT NULL, prev REAL NOT NULL,
    expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_windows_expiry ON hot_windows (expires_at);
"""

_KV_SCHEMA = """
CREATE TABLE IF NOT EXISTS hot_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_kv_expiry ON hot_kv (expires_at) WHERE expires_at IS NOT NULL;
"""


def _sweep_counters(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM hot_holds WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM hot_counters WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM hot_settled WHERE forget_at <= ?", (now,))
    conn.execute("DELETE FROM hot_windows WHERE expires_at <= ?", (now,))


def _sweep_kv(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM hot_kv WHERE expires_at <= ?", (now,))


def _used(conn: sqlite3.Connection, key: str, now: float) -> float:
    row = conn.execute(
        "SELECT used FROM hot_counters WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        (key, now),
    ).fetchone()
    return float(row[0]) if row else 0.0


def _held(conn: sqlite3.Connection, key: str, now: float) -> float:
    row = conn.execute(
        "SELECT TOTAL(amount) FROM hot_holds WHERE key = ? AND expires_at > ?", (key, now)
    ).fetchone()
    return float(row[0])


def _spend(
    conn: sqlite3.Connection, key: str, amount: float, now: float, ttl: float | None
) -> float:
    """Add to ``key``'s used amount (an expired count restarts at 0)."""
    expires = None if ttl is None else now + ttl
    row = conn.execute(
        """INSERT INTO hot_counters (key, used, expires_at) VALUES (?1, ?2, ?3)
        ON CONFLICT (key) DO UPDATE SET
            used = CASE WHEN expires_at IS NOT NULL AND expires_at <= ?4
                        THEN ?2 ELSE used + ?2 END,
            expires_at = CASE WHEN ?3 IS NOT NULL THEN ?3
                              WHEN expires_at IS NOT NULL AND expires_at <= ?4 THEN NULL
                              ELSE expires_at END
        RETURNING used""",
        (key, amount, expires, now),
    ).fetchone()
    return float(row[0])


def _window(
    conn: sqlite3.Connection, k: str, amount: float, limit: float, window: float, now: float
) -> WindowDecision:
    row = conn.execute("SELECT bucket, cur, prev FROM hot_windows WHERE key = ?", (k,)).fetchone()
    state = WindowState(int(row[0]), float(row[1]), float(row[2])) if row else None
    new, decision = window_decide(state, now, amount, limit, window)
    if new != state:
        conn.execute(
            "INSERT OR REPLACE INTO hot_windows (key, bucket, cur, prev, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (k, new.bucket, new.cur, new.prev, (new.bucket + 2) * window),
        )
    return decision


class SQLiteCounters:
    """:class:`~plano.store.protocols.Counters` on a SQLite file shared across processes."""

    def __init__(
        self, path: Path, *, prefix: str = "", busy_timeout: float = 5.0, sweep_every: float = 2.0
    ) -> None:
        self.prefix = prefix
        self._db = SQLiteRunner(
            path,
            _COUNTERS_SCHEMA,
            _sweep_counters,
            busy_timeout=busy_timeout,
            sweep_every=sweep_every,
            name="plano-counters",
        )

    async def reserve(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], ttl: float = 600.0
    ) -> Reservation | None:
        rid = new_reservation_id()
        p = self.prefix
        items = [(p + k, a, limits.get(k)) for k, a in amounts.items()]

        def run(conn: sqlite3.Connection) -> float | None:
            now = time.time()
            for key, amount, limit in items:
                if limit is not None and not fits(
                    _used(conn, key, now), _held(conn, key, now), amount, limit
                ):
                    return None
            expires = now + ttl
            conn.executemany(
                "INSERT INTO hot_holds (key, rid, amount, expires_at) VALUES (?, ?, ?, ?)",
                [(key, rid, amount, expires) for key, amount, _ in items],
            )
            return expires

        expires_at = await self._db.run(run)
        if expires_at is None:
            return None
        return Reservation(rid, dict(amounts), expires_at)

    async def _finish(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        spend = [(self.prefix + k, a) for k, a in actual.items()]
        rid = reservation.id

        def run(conn: sqlite3.Connection) -> None:
            now = time.time()
            forget_at = max(reservation.expires_at, now) + SETTLED_MEMORY
            cur = conn.execute(
                "INSERT OR IGNORE INTO hot_settled (rid, forget_at) VALUES (?, ?)", (rid, forget_at)
            )
            if cur.rowcount == 0:
                return  # settled or released before
            conn.execute("DELETE FROM hot_holds WHERE rid = ?", (rid,))
            for key, amount in spend:
                _spend(conn, key, amount, now, None)

        await self._db.run(run)

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        await self._finish(reservation, actual)

    async def release(self, reservation: Reservation) -> None:
        await self._finish(reservation, {})

    async def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        k = self.prefix + key
        return await self._db.run(lambda conn: _spend(conn, k, amount, time.time(), ttl))

    async def get(self, key: str) -> tuple[float, float]:
        k = self.prefix + key

        def run(conn: sqlite3.Connection) -> tuple[float, float]:
            now = time.time()
            conn.execute("BEGIN")  # one snapshot for both reads
            try:
                return _used(conn, k, now), _held(conn, k, now)
            finally:
                conn.execute("COMMIT")

        return await self._db.run(run, write=False)

    async def window(self, key: str, amount: float, limit: float, window: float) -> WindowDecision:
        [decision] = await self.windows([(key, amount, limit, window)])
        return decision

    async def windows(
        self, checks: Sequence[tuple[str, float, float, float]]
    ) -> list[WindowDecision]:
        items = [(self.prefix + key, amount, limit, w) for key, amount, limit, w in checks]
        if not items:
            return []

        def run(conn: sqlite3.Connection) -> list[WindowDecision]:
            now = time.time()
            return [_window(conn, k, amount, limit, w, now) for k, amount, limit, w in items]

        return await self._db.run(run)  # one transaction

    async def close(self) -> None:
        await self._db.close()


class SQLiteKeyValue:
    """:class:`~plano.store.protocols.KeyValue` on a SQLite file shared across processes."""

    def __init__(
        self, path: Path, *, prefix: str = "", busy_timeout: float = 5.0, sweep_every: float = 2.0
    ) -> None:
        self.prefix = prefix
        self._db = SQLiteRunner(
            path,
            _KV_SCHEMA,
            _sweep_kv,
            busy_timeout=busy_timeout,
            sweep_every=sweep_every,
            name="plano-kv",
        )

    async def get(self, key: str) -> bytes | None:
        found = await self.get_many([key])
        return found.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        p, n = self.prefix, len(self.prefix)
        wanted = [p + k for k in dict.fromkeys(keys)]

        def run(conn: sqlite3.Connection) -> dict[str, bytes]:
            now = time.time()
            out: dict[str, bytes] = {}
            for i in range(0, len(wanted), 500):  # under SQLite's bound-parameter limit
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, value FROM hot_kv WHERE key IN ({marks})"
                    " AND (expires_at IS NULL OR expires_at > ?)",
                    (*chunk, now),
                )
                out.update((key[n:], bytes(value)) for key, value in rows)
            return out

        return await self._db.run(run, write=False)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        k, v = self.prefix + key, bytes(value)

        def run(conn: sqlite3.Connection) -> None:
            expires = None if ttl is None else time.time() + ttl
            conn.execute(
                "INSERT OR REPLACE INTO hot_kv (key, value, expires_at) VALUES (?, ?, ?)",
                (k, v, expires),
            )

        await self._db.run(run, write=False)  # one statement: atomic on its own

    async def delete(self, key: str) -> bool:
        k = self.prefix + key

        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "DELETE FROM hot_kv WHERE key = ? RETURNING expires_at", (k,)
            ).fetchone()
            return row is not None and (row[0] is None or row[0] > time.time())

        return await self._db.run(run, write=False)

    async def scan(self, prefix: str, limit: int = 1000) -> dict[str, bytes]:
        start, n = self.prefix + prefix, len(self.prefix)

        def run(conn: sqlite3.Connection) -> dict[str, bytes]:
            # A range on the primary key; GLOB/LIKE would need escaping and skip the index.
            rows = conn.execute(
                "SELECT key, value FROM hot_kv WHERE key >= ? AND key < ?"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?",
                (start, start + "\U0010ffff", time.time(), limit),
            )
            return {key[n:]: bytes(value) for key, value in rows}

        return await self._db.run(run, write=False)

    async def close(self) -> None:
        await self._db.close()
