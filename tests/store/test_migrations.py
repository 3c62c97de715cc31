"""Schema migrations on SQLite and PostgreSQL: fresh, re-run, several processes at once,
a failed step, and what ``plano db migrate`` / ``plano db status`` report.

The ``pg_url`` fixture (a fresh schema per test on the local PostgreSQL, dropped afterwards) is
shared with the other durable-store tests, which import it from here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
import yaml

from plano.cli import main
from plano.store import migrations
from plano.store.admin import migrate_target, status_of_target
from plano.store.db import PostgresDatabase, SQLiteDatabase
from plano.store.migrations import Migration, load_migrations, parse_migration

#: The local server the suite uses (CI starts it); a test schema is made per test.
PG_URL = os.environ.get("PLANO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _admin(sql: str) -> None:
    """Run one statement as the admin, on a thread of its own (the caller may be inside a
    running event loop: an async fixture asking for ``pg_url``)."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a new, empty schema (a sync fixture, so that
    async fixtures can ask for it by name)."""
    schema = "plano_t_" + os.urandom(6).hex()
    try:
        _admin(f"CREATE SCHEMA {schema}")
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    try:
        yield f"{PG_URL}?search_path={schema}"
    finally:
        _admin(f"DROP SCHEMA {schema} CASCADE")


# ---------------------------------------------------------------- the files


def test_a_migration_file_has_a_section_per_dialect() -> None:
    text = "-- about\n-- dialect: sqlite\nCREATE TABLE a (x INTEGER);\n-- dialect: postgres\n"
    text += "CREATE TABLE a (x bigint);\n"
    mig = parse_migration("0007_audit_log.sql", text)
    assert (mig.version, mig.name) == (7, "audit_log")
    assert mig.statements("sqlite") == ["CREATE TABLE a (x INTEGER);"]
    assert "bigint" in mig.text("postgres")
    assert mig.checksum("sqlite") != mig.checksum("postgres")


def test_statements_split_on_complete_statements_not_on_every_semicolon() -> None:
    text = (
        "-- dialect: sqlite\n-- a comment; with a semicolon\n"
        "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = 'c';\nEND;\n"
    )
    statements = parse_migration("0002_t.sql", text).statements("sqlite")
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("2_x.sql", "-- dialect: sqlite\nSELECT 1;", "NNNN_name"),
        ("0002_x.sql", "SELECT 1;", "no '-- dialect"),
        ("0002_x.sql", "-- dialect: mysql\nSELECT 1;", "unknown dialect"),
        ("0002_x.sql", "-- dialect: sqlite\n-- dialect: sqlite\n", "two sqlite"),
    ],
)
def test_malformed_migration_files_are_refused(name: str, text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_migration(name, text)


def test_shipped_migrations_run_1_2_3_and_cover_both_dialects() -> None:
    found = load_migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    for mig in found:
        assert mig.text("sqlite").strip() and mig.text("postgres").strip()


def _with(extra: str) -> list[Migration]:
    return [*load_migrations(), parse_migration(f"{len(load_migrations()) + 1:04d}_x.sql", extra)]


# ---------------------------------------------------------------- SQLite


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_sqlite_fresh_then_rerun_is_a_no_op(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "s.db")
    applied = migrations.migrate_sqlite(conn)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert {"usage_records", "responses", "schema_migrations"} <= _tables(conn)
    assert migrations.migrate_sqlite(conn) == []
    rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [m.version for m in load_migrations()]
    assert not conn.in_transaction


def test_sqlite_applies_only_what_is_new(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "s.db")
    migrations.migrate_sqlite(conn)
    later = _with("-- dialect: sqlite\nCREATE TABLE audit (id INTEGER);\n-- dialect: postgres\n")
    assert [m.name for m in migrations.migrate_sqlite(conn, later)] == ["x"]
    assert "audit" in _tables(conn)


def test_sqlite_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "s.db")
    migrations.migrate_sqlite(conn)
    broken = _with("-- dialect: sqlite\nCREATE TABLE half (id INTEGER);\nCREATE NONSENSE;\n")
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate_sqlite(conn, broken)
    assert "half" not in _tables(conn)
    assert migrations.sqlite_status(conn, "x", broken).current == len(load_migrations())


def test_a_file_made_by_the_old_response_store_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "responses.db"
    old = _connect(path)
    old.execute("CREATE TABLE responses (id TEXT PRIMARY KEY, expires_at REAL, record BLOB)")
    old.execute("INSERT INTO responses VALUES ('r1', 1e12, x'00')")
    migrations.migrate_sqlite(old)
    assert old.execute("SELECT id FROM responses").fetchall() == [("r1",)]
    assert "usage_records" in _tables(old)


_RACE = """
import asyncio, json, sys, time
from plano.store.admin import migrate_target
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
done, status = asyncio.run(migrate_target(sys.argv[1]))
print(json.dumps([m.version for m in done]))
"""


def _race(target: str, processes: int = 4) -> list[list[int]]:
    """``processes`` processes migrate ``target`` at the same instant; what each applied."""
    start = str(time.time() + 1.5)  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, target, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def _each_applied_once(results: list[list[int]]) -> None:
    versions = sorted(v for applied in results for v in applied)
    assert versions == [m.version for m in load_migrations()]


def test_sqlite_processes_migrating_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    _each_applied_once(_race(str(path)))
    conn = _connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (
        len(load_migrations()),
    )


async def test_sqlite_database_migrates_when_opened(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "d" / "s.db")
    tables = await db.run(_tables)
    assert "usage_records" in tables
    await db.close()


# ---------------------------------------------------------------- PostgreSQL


async def _pg_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    finally:
        await conn.close()
    return {r[0] for r in rows}


async def test_postgres_fresh_then_rerun_is_a_no_op(pg_url: str) -> None:
    done, status = await migrate_target(pg_url)
    assert [m.version for m in done] == [m.version for m in load_migrations()]
    assert status.current == len(load_migrations()) and not status.pending
    assert {"usage_records", "responses", "schema_migrations"} <= await _pg_tables(pg_url)
    again, _ = await migrate_target(pg_url)
    assert again == []


async def test_postgres_applies_only_what_is_new_and_rolls_back_a_failure(pg_url: str) -> None:
    await migrate_target(pg_url)
    db = PostgresDatabase(pg_url, migrate=False)
    broken = _with("-- dialect: postgres\nCREATE TABLE half (id int);\nCREATE NONSENSE;\n")
    async with db.connection() as conn:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrations.migrate_postgres(conn, broken)
    later = _with("-- dialect: postgres\nCREATE TABLE audit (id int);\n-- dialect: sqlite\n")
    async with db.connection() as conn:
        assert [m.name for m in await migrations.migrate_postgres(conn, later)] == ["x"]
        status = await migrations.postgres_status(conn, "pg", later)
    await db.close()
    tables = await _pg_tables(pg_url)
    assert "audit" in tables and "half" not in tables
    assert status.current == len(later) and not status.pending


async def test_postgres_connections_migrating_at_once_apply_each_migration_once(
    pg_url: str,
) -> None:
    dbs = [PostgresDatabase(pg_url, migrate=False) for _ in range(4)]

    async def one(db: PostgresDatabase) -> list[int]:
        async with db.connection() as conn:
            return [m.version for m in await migrations.migrate_postgres(conn)]

    _each_applied_once(list(await asyncio.gather(*(one(db) for db in dbs))))
    for db in dbs:
        await db.close()


async def test_postgres_processes_migrating_at_once_apply_each_migration_once(
    pg_url: str,
) -> None:
    results = await asyncio.get_running_loop().run_in_executor(None, _race, pg_url)
    _each_applied_once(results)


async def test_status_flags_a_changed_migration(pg_url: str, tmp_path: Path) -> None:
    await migrate_target(pg_url)
    conn = await asyncpg.connect(pg_url)
    await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    await conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'y', 0)")
    await conn.close()
    status = await status_of_target(pg_url)
    assert status.modified == [1] and status.unknown == [999]


# ---------------------------------------------------------------- plano db


def _db(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["db", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_plano_db_status_then_migrate_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    code, out = _db(capsys, "status", "--database", str(path))
    (report,) = out["databases"]  # type: ignore[misc]
    assert code == 0 and report["exists"] is False and report["current_version"] == 0
    shipped = [m.version for m in load_migrations()]
    assert [p["version"] for p in report["pending"]] == shipped
    assert not path.exists()  # looking creates nothing

    code, out = _db(capsys, "migrate", "--database", str(path))
    (report,) = out["databases"]  # type: ignore[misc]
    assert code == 0 and report["applied_now"] == shipped and report["pending"] == []
    code, out = _db(capsys, "migrate", "--database", str(path))
    assert out["databases"][0]["applied_now"] == []  # type: ignore[index]
    code, out = _db(capsys, "status", "--database", str(path))
    assert out["databases"][0]["current_version"] == shipped[-1]  # type: ignore[index]


def test_plano_db_reads_the_databases_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "sk-test"}],
        "state": {"path": str(tmp_path / "durable.db")},
        "state_storage": {"type": "sqlite", "path": str(tmp_path / "responses.db")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out = _db(capsys, "migrate", str(path))
    names = [r["database"] for r in out["databases"]]  # type: ignore[attr-defined]
    assert code == 0 and names == [
        f"sqlite:{tmp_path}/durable.db",
        f"sqlite:{tmp_path}/responses.db",
    ]
    main(["db", "status", str(path)])
    text = capsys.readouterr().out
    assert f"durable.db: version {len(load_migrations())}, up to date" in text


async def test_plano_db_on_postgres_and_a_down_server(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, main, ["db", "migrate", "--database", pg_url, "--json"])
    report = json.loads(capsys.readouterr().out)["databases"][0]
    shipped = [m.version for m in load_migrations()]
    assert code == 0 and report["dialect"] == "postgres" and report["applied_now"] == shipped
    assert "search_path" not in report["database"]  # the query is not shown

    down = "postgresql://postgres:secret@127.0.0.1:1/test"
    started = time.monotonic()
    code = await loop.run_in_executor(None, main, ["db", "status", "--database", down, "--json"])
    report = json.loads(capsys.readouterr().out)["databases"][0]
    assert code == 1 and "error" in report and "secret" not in json.dumps(report)
    assert time.monotonic() - started < 5
