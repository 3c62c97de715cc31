"""A response store in one SQLite file, for state that survives restarts.

The file is the host's durable-state database (:class:`plano.store.db.SQLiteDatabase`): its
schema comes from the store's migrations, and every store of this process on the same file
shares its one connection and thread, never the event loop. Records are also kept in a small
in-memory LRU (bounded by records and bytes) that is updated before the disk write starts, so a
client that chains its next request right after an answer finds it without a disk read; a record
too large for that cache is read back from disk, after its write (one thread runs both, in
order). When several worker processes share the file, the cache is off (``cache=False``): a
record another worker deleted must not be served from this one's memory.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from plano.state.store import MemoryResponseStore, StoredResponse
from plano.store.db import SQLiteDatabase, sqlite_transaction

__all__ = ["SQLiteResponseStore"]

T = TypeVar("T")
#: Expired rows are purged every this many writes.
_PURGE_EVERY = 256


class SQLiteResponseStore:
    def __init__(
        self,
        path: Path,
        ttl: float = 30 * 24 * 3600.0,
        cache_entries: int = 1000,
        clock: Callable[[], float] = time.time,
        *,
        cache_bytes: int = 64 * 1024 * 1024,
        db: SQLiteDatabase | None = None,
        cache: bool = True,
    ) -> None:
        """``db``: the database on ``path`` to use (this store closes it once); ``cache``:
        keep records in memory too (only when no other process deletes from the file)."""
        self.path = path
        self.ttl = ttl
        self._clock = clock
        self._cache = MemoryResponseStore(cache_entries, ttl, clock, max_bytes=cache_bytes)
        self._caching = cache
        self._db: SQLiteDatabase | None = db if db is not None else SQLiteDatabase.shared(path)
        self._writes = 0

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise RuntimeError("the response store is closed")
        return await self._db.run(fn)

    async def get(self, response_id: str) -> StoredResponse | None:
        hit = self._cache.peek(response_id) if self._caching else None
        if hit is not None:
            return hit
        now = self._clock()

        def read(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                "SELECT record FROM responses WHERE id = ? AND expires_at > ?", (response_id, now)
            ).fetchone()
            return row[0] if row else None

        data = await self._run(read)
        if data is None:
            return None
        record = StoredResponse.loads(data)
        if self._caching:
            self._cache.store(record, len(data))
        return record

    async def put(self, record: StoredResponse) -> None:
        data = record.dumps()
        if self._caching:
            self._cache.store(record, len(data))  # visible at once, before the disk write
        expires = self._clock() + self.ttl
        self._writes += 1
        purge = self._writes % _PURGE_EVERY == 0
        now = self._clock()

        def write(conn: sqlite3.Connection) -> None:
            with sqlite_transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO responses (id, expires_at, record) VALUES (?, ?, ?)",
                    (record.id, expires, data),
                )
                if purge:
                    conn.execute("DELETE FROM responses WHERE expires_at <= ?", (now,))

        await self._run(write)

    async def delete(self, response_id: str) -> bool:
        cached = self._cache.discard(response_id)

        def remove(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            return cur.rowcount > 0

        return await self._run(remove) or cached

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:  # the file is shared: give it back once
            await db.close()
