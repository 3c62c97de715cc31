"""The KeyStore contract on every durable backend (SQLite in a temp dir, the local PostgreSQL
in a fresh schema): create, a taken id, lookups by digest and id, listing with filters and
paging, revocation (idempotent), and that only the digest is stored."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.store import test_migrations

from plano.store.db import PostgresDatabase, SQLiteDatabase
from plano.store.keys import (
    KeyConflict,
    KeyQuery,
    KeyRecord,
    KeyStore,
    PostgresKeyStore,
    SQLiteKeyStore,
    hash_key,
    is_dynamic_key,
    key_hint,
    new_key,
)

T0 = 1_700_000_000.0
pg_url = test_migrations.pg_url


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    s: SQLiteKeyStore | PostgresKeyStore
    if request.param == "sqlite":
        s = SQLiteKeyStore(SQLiteDatabase(tmp_path / "state.db"))
    else:
        s = PostgresKeyStore(PostgresDatabase(request.getfixturevalue("pg_url")))
    yield s
    await s.close()


def record(i: int, key: str | None = None, **over: Any) -> KeyRecord:
    key = key or new_key()
    fields: dict[str, Any] = {
        "id": f"key-{i:03d}",
        "key_hash": hash_key(key),
        "hint": key_hint(key),
        "created_at": T0 + i,
        "user": ("alice", "bob")[i % 2],
        "team": ("red", "blue", "green")[i % 3],
        "tenant": "acme",
        "tags": ("prod",),
        "models": ("openai/*", "fast"),
        "budgets": ("monthly",),
        **over,
    }
    return KeyRecord(**fields)


def test_keys_are_256_random_bits_and_look_like_keys() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("pk-") and len(a) == 46
    assert is_dynamic_key(a) and not is_dynamic_key(a + "x") and not is_dynamic_key("sk-" + a[3:])
    assert hash_key(a) == hashlib.sha256(a.encode()).hexdigest()
    assert key_hint(a) == f"pk-...{a[-4:]}" and a[5:-4] not in key_hint(a)


async def test_create_then_find_by_digest_and_id(store: KeyStore) -> None:
    key = new_key()
    made = record(1, key, expires_at=T0 + 99, name="ci")
    await store.create(made)
    assert await store.by_hash(hash_key(key)) == made
    assert await store.get("key-001") == made
    assert await store.by_hash(hash_key(new_key())) is None
    assert await store.get("nope") is None
    shown = made.to_json()
    assert "key_hash" not in shown and key not in str(shown)
    assert shown["models"] == ["openai/*", "fast"] and shown["expires_at"] == T0 + 99


async def test_a_taken_id_is_a_conflict(store: KeyStore) -> None:
    await store.create(record(1))
    with pytest.raises(KeyConflict) as caught:
        await store.create(record(1))
    assert caught.value.status == 409


async def test_list_filters_and_pages_newest_first(store: KeyStore) -> None:
    for i in range(7):
        await store.create(record(i))
    await store.revoke("key-006", T0 + 100)
    page = await store.list(KeyQuery(limit=10))
    assert [k.id for k in page.keys] == [f"key-{i:03d}" for i in (5, 4, 3, 2, 1, 0)]
    assert page.next is None
    every = await store.list(KeyQuery(include_revoked=True, limit=10))
    assert every.keys[0].id == "key-006" and every.keys[0].revoked_at == T0 + 100
    alice = await store.list(KeyQuery(user="alice", include_revoked=True))
    assert [k.id for k in alice.keys] == ["key-006", "key-004", "key-002", "key-000"]
    red = await store.list(KeyQuery(team="red", user="alice"))
    assert [k.id for k in red.keys] == ["key-000"]
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list(KeyQuery(limit=2, cursor=cursor))
        seen += [k.id for k in page.keys]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"key-{i:03d}" for i in (5, 4, 3, 2, 1, 0)]


async def test_revoking_is_idempotent_and_keeps_the_first_time(store: KeyStore) -> None:
    await store.create(record(1))
    first = await store.revoke("key-001", T0 + 10)
    again = await store.revoke("key-001", T0 + 20)
    assert first is not None and again is not None
    assert first.revoked_at == again.revoked_at == T0 + 10
    assert await store.revoke("missing", T0) is None


async def test_sqlite_keeps_only_the_digest(tmp_path: Path) -> None:
    store = SQLiteKeyStore(SQLiteDatabase(tmp_path / "state.db"))
    key = new_key()
    await store.create(record(1, key))
    await store.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    rows = conn.execute("SELECT * FROM api_keys").fetchall()
    conn.close()
    assert len(rows) == 1
    dump = repr(rows)
    assert key not in dump and key[3:] not in dump and key[3:20] not in dump
    assert hash_key(key) in dump


async def test_postgres_keeps_only_the_digest(pg_url: str) -> None:
    store = PostgresKeyStore(PostgresDatabase(pg_url))
    key = new_key()
    await store.create(record(1, key))
    await store.close()
    url, _, schema = pg_url.partition("?search_path=")
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT * FROM api_keys")
    finally:
        await conn.close()
    dump = repr([tuple(r) for r in rows])
    assert len(rows) == 1 and key[3:20] not in dump and hash_key(key) in dump
