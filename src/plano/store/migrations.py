"""Versioned schema migrations for the durable stores, SQLite and PostgreSQL.

A migration is one file in ``plano/store/sql/``, ``NNNN_name.sql``, with a section per dialect
(``-- dialect: sqlite``, ``-- dialect: postgres``; a missing section is an empty step, still
recorded). Adding a table (audit, keys, sessions) is adding the next file. Versions must run
1, 2, 3... without gaps.

Migrations run when a database is first opened (and through ``plano db migrate``), in one
transaction that holds a lock, so workers and replicas starting together apply each migration
once: SQLite's write lock (``BEGIN IMMEDIATE``; the others wait ``busy_timeout``), PostgreSQL's
transaction-scoped advisory lock. DDL is transactional on both, so a failed migration leaves
nothing half done. The table ``schema_migrations`` records what was applied, when, and the
checksum of the SQL that ran.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "AppliedMigration",
    "Dialect",
    "Migration",
    "MigrationStatus",
    "load_migrations",
    "migrate_postgres",
    "migrate_sqlite",
    "parse_migration",
    "postgres_status",
    "sqlite_status",
]

Dialect = Literal["sqlite", "postgres"]
_DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SECTION = re.compile(r"^--\s*dialect:\s*(\w+)\s*$", re.MULTILINE)

_CREATE_TABLE = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at REAL NOT NULL)"
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, checksum text NOT NULL, applied_at double precision NOT NULL)"
    ),
}
#: PostgreSQL's advisory lock key, per schema (two schemas of one database migrate apart).
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('plano.schema_migrations.' || current_schema()))"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: dict[str, str] = field(default_factory=dict)

    def text(self, dialect: Dialect) -> str:
        return self.sql.get(dialect, "")

    def checksum(self, dialect: Dialect) -> str:
        return hashlib.sha256(self.text(dialect).encode()).hexdigest()[:16]

    def statements(self, dialect: Dialect) -> list[str]:
        """The dialect's SQL split into statements (SQLite runs one at a time: its
        ``executescript`` would commit the migration's transaction)."""
        out: list[str] = []
        buf = ""
        for line in self.text(dialect).splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                if _strip_comments(buf):
                    out.append(buf.strip())
                buf = ""
        if _strip_comments(buf):
            out.append(buf.strip())
        return out


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: float


@dataclass(slots=True)
class MigrationStatus:
    """What ``plano db status`` shows."""

    database: str
    dialect: Dialect
    exists: bool
    applied: list[AppliedMigration]
    pending: list[Migration]
    #: Applied versions whose file changed since (a released migration must not change).
    modified: list[int]
    #: Applied versions this Plano does not know (a newer Plano migrated this database).
    unknown: list[int]

    @property
    def current(self) -> int:
        return max((a.version for a in self.applied), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "dialect": self.dialect,
            "exists": self.exists,
            "current_version": self.current,
            "applied": [
                {"version": a.version, "name": a.name, "applied_at": a.applied_at}
                for a in self.applied
            ],
            "pending": [{"version": m.version, "name": m.name} for m in self.pending],
            "modified": self.modified,
            "unknown": self.unknown,
        }


def _strip_comments(sql: str) -> str:
    return "\n".join(
        line for line in sql.splitlines() if line.strip() and not line.strip().startswith("--")
    )


def parse_migration(filename: str, text: str) -> Migration:
    """A migration from its file name (``0002_audit.sql``) and text."""
    m = _FILE.match(filename)
    if m is None:
        raise ValueError(f"migration file {filename!r} is not named NNNN_name.sql")
    parts = _SECTION.split(text)
    sql: dict[str, str] = {}
    for dialect, body in zip(parts[1::2], parts[2::2], strict=True):
        if dialect not in _DIALECTS:
            raise ValueError(f"migration {filename}: unknown dialect {dialect!r}")
        if dialect in sql:
            raise ValueError(f"migration {filename}: two {dialect} sections")
        sql[dialect] = body.strip() + "\n"
    if not sql:
        raise ValueError(f"migration {filename} has no '-- dialect: NAME' section")
    return Migration(int(m.group(1)), m.group(2), sql)


def load_migrations() -> list[Migration]:
    """Every migration shipped in ``plano/store/sql``, in order; versions checked contiguous."""
    folder = resources.files("plano.store").joinpath("sql")
    found = sorted(
        (
            parse_migration(f.name, f.read_text(encoding="utf-8"))
            for f in folder.iterdir()
            if f.name.endswith(".sql")
        ),
        key=lambda mig: mig.version,
    )
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise ValueError(f"migration versions must run 1, 2, 3...: found {mig.version}")
    return found


def _pending(all_: Sequence[Migration], applied: set[int]) -> list[Migration]:
    return [m for m in all_ if m.version not in applied]


# ---------------------------------------------------------------- SQLite (sync, on the db thread)


def _sqlite_applied(conn: sqlite3.Connection) -> list[AppliedMigration]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def migrate_sqlite(
    conn: sqlite3.Connection, all_: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply the pending migrations (none: no write lock taken); returns those applied here.
    ``conn`` must be in autocommit mode (``isolation_level=None``)."""
    all_ = load_migrations() if all_ is None else all_
    if not _pending(all_, {a.version for a in _sqlite_applied(conn)}):
        return []
    conn.execute("BEGIN IMMEDIATE")  # waits busy_timeout for another process's migration
    try:
        conn.execute(_CREATE_TABLE["sqlite"])
        todo = _pending(all_, {a.version for a in _sqlite_applied(conn)})
        for mig in todo:
            for statement in mig.statements("sqlite"):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (mig.version, mig.name, mig.checksum("sqlite"), time.time()),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return todo


def sqlite_status(
    conn: sqlite3.Connection | None, database: str, all_: Sequence[Migration] | None = None
) -> MigrationStatus:
    """``conn`` is ``None`` when the file does not exist yet."""
    applied = _sqlite_applied(conn) if conn is not None else []
    return _status(database, "sqlite", conn is not None, applied, all_)


def _status(
    database: str,
    dialect: Dialect,
    exists: bool,
    applied: list[AppliedMigration],
    all_: Sequence[Migration] | None,
) -> MigrationStatus:
    all_ = load_migrations() if all_ is None else all_
    known = {m.version: m for m in all_}
    modified = [
        a.version
        for a in applied
        if a.version in known and known[a.version].checksum(dialect) != a.checksum
    ]
    unknown = [a.version for a in applied if a.version not in known]
    pending = _pending(all_, {a.version for a in applied})
    return MigrationStatus(database, dialect, exists, applied, pending, modified, unknown)


# ---------------------------------------------------------------- PostgreSQL


async def _pg_applied(conn: PoolConnectionProxy[Any]) -> list[AppliedMigration]:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return []
    rows = await conn.fetch(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    )
    return [AppliedMigration(r[0], r[1], r[2], r[3]) for r in rows]


async def migrate_postgres(
    conn: PoolConnectionProxy[Any], all_: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply the pending migrations under an advisory lock; returns those applied here."""
    all_ = load_migrations() if all_ is None else all_
    if not _pending(all_, {a.version for a in await _pg_applied(conn)}):
        return []
    async with conn.transaction():
        await conn.execute(_PG_LOCK)  # held until commit; other processes wait here
        await conn.execute(_CREATE_TABLE["postgres"])
        todo = _pending(all_, {a.version for a in await _pg_applied(conn)})
        for mig in todo:
            if mig.text("postgres").strip():
                await conn.execute(mig.text("postgres"))  # several statements: simple protocol
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES ($1, $2, $3, $4)",
                mig.version,
                mig.name,
                mig.checksum("postgres"),
                time.time(),
            )
    return todo


async def postgres_status(
    conn: PoolConnectionProxy[Any], database: str, all_: Sequence[Migration] | None = None
) -> MigrationStatus:
    return _status(database, "postgres", True, await _pg_applied(conn), all_)
