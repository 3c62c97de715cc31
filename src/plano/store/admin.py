"""``plano db migrate`` and ``plano db status`` on a database target: a PostgreSQL URL or an
SQLite file path (``sqlite:`` prefix optional). Status never creates or changes anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from plano.store import migrations
from plano.store.db import PostgresDatabase, SQLiteDatabase, describe_target, is_postgres_url
from plano.store.migrations import Migration, MigrationStatus
from plano.store.protocols import StoreUnavailable

__all__ = ["migrate_target", "status_of_target"]


def _sqlite_path(target: str) -> Path:
    return Path(target.removeprefix("sqlite://").removeprefix("sqlite:"))


async def migrate_target(target: str) -> tuple[list[Migration], MigrationStatus]:
    """Apply what is pending; returns the migrations applied by this call and the status after.
    Raises StoreUnavailable when the database cannot be reached."""
    name = describe_target(target)
    if is_postgres_url(target):
        pg = PostgresDatabase(target, min_size=1, max_size=1, migrate=False)
        try:
            async with pg.connection() as conn:
                applied = await migrations.migrate_postgres(conn)
                return applied, await migrations.postgres_status(conn, name)
        finally:
            await pg.close()
    db = SQLiteDatabase(_sqlite_path(target), migrate=False)
    try:
        return await db.run(
            lambda conn: (migrations.migrate_sqlite(conn), migrations.sqlite_status(conn, name))
        )
    finally:
        await db.close()


async def status_of_target(target: str) -> MigrationStatus:
    name = describe_target(target)
    if is_postgres_url(target):
        pg = PostgresDatabase(target, min_size=1, max_size=1, migrate=False)
        try:
            async with pg.connection() as conn:
                return await migrations.postgres_status(conn, name)
        finally:
            await pg.close()
    path = _sqlite_path(target)
    if not path.exists():
        return migrations.sqlite_status(None, name)
    # Read-only: looking must not create the file, take a lock, or switch the journal mode.
    reader = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return migrations.sqlite_status(reader, name)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"SQLite database {path}: {exc}") from exc
    finally:
        reader.close()
