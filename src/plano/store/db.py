"""Database access for durable records: one SQLite file per host, or a PostgreSQL pool.

SQLite (the embedded default): one WAL file, e.g. ``.plano/state.db``, shared by the worker
processes of a host. Within a process every store on that file shares one connection on one
dedicated thread (:meth:`SQLiteDatabase.shared`): SQLite connections belong to their thread, and
nothing ever runs on the event loop. WAL lets readers go on while a worker writes;
``busy_timeout`` makes a worker wait for another's write lock instead of failing.

PostgreSQL: an asyncpg pool. ``postgresql://`` or ``postgres://`` URLs, with ``sslmode`` (and
the other libpq parameters asyncpg reads) honoured; any other query parameter becomes a server
setting (``?search_path=plano``). Statements time out on the server (``statement_timeout``) and
on the client (a stalled network). A server that is down raises :class:`StoreUnavailable` at
once; while it stays down, callers fail fast and one caller at a time tries to reconnect, after
a delay that doubles up to ``max_backoff``.

Both apply the pending migrations (:mod:`plano.store.migrations`) when first opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from plano.store import migrations
from plano.store.protocols import StoreUnavailable
from plano.store.sqlite_runner import set_wal

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "PgConnection",
    "PostgresDatabase",
    "SQLiteDatabase",
    "describe_target",
    "is_postgres_url",
    "redact_url",
    "sqlite_transaction",
]

T = TypeVar("T")
PgConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

#: Where the embedded durable state lives unless the config says otherwise.
DEFAULT_SQLITE_PATH = Path(".plano/state.db")

#: Errors that mean the server (or the network to it) is gone, not that a statement failed.
_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*_DOWN_ERRORS, asyncpg.PostgresError)
#: sqlite3 errors that are bugs in the caller, not an unavailable database.
_SQLITE_BUGS = (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.InterfaceError)


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """``scheme://user@host:port/db``: no password and no query (it may hold keys' paths)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


@contextlib.contextmanager
def sqlite_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the file's write lock at once (``BEGIN IMMEDIATE``), so
    two processes never both read and then both fail to upgrade to writing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteDatabase:
    """One SQLite file, one connection, one thread; :meth:`run` calls a function with the
    connection on that thread. The connection is in autocommit mode: write through
    :func:`sqlite_transaction`."""

    #: Open databases of this process, by resolved path (see :meth:`shared`).
    _shared: ClassVar[dict[Path, SQLiteDatabase]] = {}

    def __init__(self, path: Path, *, busy_timeout: float = 10.0, migrate: bool = True) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.migrate = migrate
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plano-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._users = 1
        self._key: Path | None = None

    @classmethod
    def shared(cls, path: Path, *, busy_timeout: float = 10.0) -> SQLiteDatabase:
        """The process's database on ``path``, opened once; each caller :meth:`close`\\ s it
        once, and the last close closes it."""
        key = path.resolve()
        db = cls._shared.get(key)
        if db is not None:
            db._users += 1
            return db
        db = cls(path, busy_timeout=busy_timeout)
        db._key = key
        cls._shared[key] = db
        return db

    def retain(self) -> SQLiteDatabase:
        """Share this database with one more holder; each holder calls :meth:`close` once,
        and the last close closes it."""
        self._users += 1
        return self

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.call, fn)

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` here; only for code already on this database's thread."""
        try:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn)
        except _SQLITE_BUGS:
            raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite database {self.path}: {exc}") from exc
        except OSError as exc:  # its folder cannot be made, say
            raise StoreUnavailable(f"SQLite database {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            set_wal(conn, self.busy_timeout)
            # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            if self.migrate:
                migrations.migrate_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        if self._key is not None and self._shared.get(self._key) is self:
            del self._shared[self._key]
        conn, self._conn = self._conn, None
        if conn is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=False)


class PostgresDatabase:
    """An asyncpg pool, opened on first use (in the event loop that uses it) and migrated.

    ``statement_timeout`` (seconds) bounds each statement on the server; the client gives up a
    second later. ``connect_timeout`` bounds each new connection.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 3.0,
        statement_timeout: float = 10.0,
        acquire_timeout: float = 5.0,
        min_backoff: float = 0.25,
        max_backoff: float = 30.0,
        statement_cache_size: int = 100,
        migrate: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not is_postgres_url(url):
            raise ValueError("a PostgreSQL URL starts with postgresql:// or postgres://")
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.acquire_timeout = acquire_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        #: 0 behind PgBouncer in transaction mode (prepared statements do not survive there).
        self.statement_cache_size = statement_cache_size
        self.migrate = migrate
        self._clock = clock
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._delay = min_backoff
        self._last_error = ""
        self._closed = False
        self._users = 1

    def retain(self) -> PostgresDatabase:
        """Share this pool with one more holder; each holder calls :meth:`close` once, and
        the last close closes the pool."""
        self._users += 1
        return self

    def describe(self) -> str:
        return redact_url(self.url)

    @property
    def available(self) -> bool:
        """False while the server is known to be down (until the next reconnect succeeds)."""
        return self._retry_at == 0.0

    async def open(self) -> None:
        """Connect and migrate now, rather than on first use (start-up calls this to fail
        early); raises :class:`StoreUnavailable` when the server cannot be reached."""
        async with self.connection():
            pass

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[PgConnection]:
        """A pooled connection; server and statement errors come out as StoreUnavailable."""
        pool = await self._ready()
        try:
            conn = await pool.acquire(timeout=self.acquire_timeout)
        except TimeoutError as exc:
            # Either every connection is busy or a new one could not connect in time.
            raise self._unavailable("no connection within the acquire timeout", exc) from exc
        except _CONNECT_ERRORS as exc:
            self._failed(exc)
            raise self._unavailable("cannot connect", exc) from exc
        try:
            yield conn
        except _DOWN_ERRORS as exc:
            self._failed(exc)
            await pool.expire_connections()  # the others are likely broken too
            raise self._unavailable("connection lost", exc) from exc
        except asyncpg.QueryCanceledError as exc:
            raise self._unavailable("statement timed out", exc) from exc
        except asyncpg.PostgresError as exc:
            raise self._unavailable("statement failed", exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await pool.release(conn)
        self._recovered()

    async def _ready(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._closed:
            raise StoreUnavailable(f"PostgreSQL {self.describe()}: the store is closed")
        now = self._clock()
        if self._retry_at:
            if now < self._retry_at:
                raise StoreUnavailable(
                    f"PostgreSQL {self.describe()} is unavailable (next try in "
                    f"{self._retry_at - now:.1f} s): {self._last_error}"
                )
            # This caller probes; the others keep failing fast until it knows.
            self._retry_at = now + self._delay
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await self._create_pool()
            return self._pool

    async def _create_pool(self) -> asyncpg.Pool[asyncpg.Record]:
        settings = {
            "application_name": "plano",
            "statement_timeout": str(int(self.statement_timeout * 1000)),
        }
        pool: asyncpg.Pool[asyncpg.Record] = asyncpg.create_pool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            timeout=self.connect_timeout,
            command_timeout=self.statement_timeout + 1.0,
            statement_cache_size=self.statement_cache_size,
            server_settings=settings,
        )
        try:
            await pool
            if self.migrate:
                async with pool.acquire(timeout=self.acquire_timeout) as conn:
                    await migrations.migrate_postgres(conn)
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, _CONNECT_ERRORS):
                self._failed(exc)
                raise self._unavailable("cannot connect", exc) from exc
            raise
        self._recovered()
        return pool

    def _failed(self, exc: BaseException) -> None:
        self._last_error = _why(exc)
        self._retry_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, self.max_backoff)

    def _recovered(self) -> None:
        self._retry_at = 0.0
        self._delay = self.min_backoff

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"PostgreSQL {self.describe()}: {what}: {_why(exc)}")

    async def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except _DOWN_ERRORS:
                pool.terminate()


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def describe_target(target: str) -> str:
    """A database target (URL or SQLite path) as it may be shown or logged."""
    return redact_url(target) if is_postgres_url(target) else f"sqlite:{target}"
