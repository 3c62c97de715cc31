"""One SQLite connection on one dedicated thread, for the embedded hot stores.

The file is in WAL mode and shared by the worker processes of one host: every operation that
reads then writes runs in a ``BEGIN IMMEDIATE`` transaction (the write lock is taken first, so
two processes never interleave a check and its write), and a busy file is waited for up to
``busy_timeout``. ``synchronous=NORMAL``: a committed operation survives a crash of the
process, not necessarily of the machine (hot state: counters, pins, topics).

No call runs on the event loop. Expired rows are swept every ``sweep_every`` seconds, on the
same thread, after the operation that found the sweep due (never delaying that operation's
answer). SQLite errors (a lock held past the timeout, a full disk) raise
:class:`StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from plano.store.protocols import StoreUnavailable

__all__ = ["SQLiteRunner", "set_wal"]

T = TypeVar("T")
log = logging.getLogger("plano.store")


class SQLiteRunner:
    def __init__(
        self,
        path: Path,
        schema: str,
        sweep: Callable[[sqlite3.Connection, float], None] | None = None,
        *,
        busy_timeout: float = 5.0,
        sweep_every: float = 2.0,
        name: str = "plano-store",
    ) -> None:
        self.path = path
        self._schema = schema
        self._sweep = sweep
        self._busy_ms = int(busy_timeout * 1000)
        self._sweep_every = sweep_every
        self._next_sweep = time.monotonic() + sweep_every
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            set_wal(conn, self._busy_ms / 1000)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self._schema)  # CREATE ... IF NOT EXISTS: safe to race
            self._conn = conn
        return self._conn

    def _call(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        conn = self._connect()
        if not write:
            return fn(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``fn(conn)`` on the store's thread; in one ``BEGIN IMMEDIATE`` transaction
        when ``write`` (a single read statement is atomic on its own)."""
        if self._closed:
            raise StoreUnavailable("the SQLite store is closed")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, self._call, fn, write)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        if self._sweep is not None and time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self._sweep_every
            self._pool.submit(self._sweep_now)
        return result

    def _sweep_now(self) -> None:
        sweep = self._sweep
        if sweep is None or self._conn is None:
            return
        try:
            self._call(lambda conn: sweep(conn, time.time()), True)
        except sqlite3.Error as exc:  # the next sweep tries again
            log.warning("sweeping expired rows of %s failed: %s", self.path, exc)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=False)


def set_wal(conn: sqlite3.Connection, patience: float) -> None:
    """Switching to WAL needs a moment alone with the file; two fresh processes can collide
    on it, and SQLite's busy handler does not cover that step, so retry for a while."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
