"""The Responses API store on PostgreSQL: what the SQLite store's tests check (persistence,
expiry, deletes), replicas sharing it, conversations read in one round trip, and the config."""

from __future__ import annotations

from typing import Any

import pytest
from tests.state.test_store import Clock, rec
from tests.store import test_migrations

from plano.config.sections import StateStorage
from plano.errors import NotFound
from plano.state import StoredResponse, load_conversation
from plano.state.postgres import PostgresResponseStore
from plano.state.setup import store_from_config
from plano.state.store import ChainStore
from plano.store.db import PostgresDatabase

pg_url = test_migrations.pg_url  # the fixture: a fresh schema per test


def store(url: str, **kw: Any) -> PostgresResponseStore:
    return PostgresResponseStore(PostgresDatabase(url), **kw)


async def test_persists_across_instances_and_replicas_see_each_other(pg_url: str) -> None:
    first, second = store(pg_url), store(pg_url)
    await first.put(rec("r1", None, "one"))
    await first.put(rec("r2", "r1", "two"))
    assert await second.get("r2") == rec("r2", "r1", "two")
    items = await load_conversation(second, "r2")
    assert [i["content"] for i in items] == ["one", "two"]
    assert await second.delete("r1") and await first.get("r1") is None  # no stale copy
    assert not await first.delete("r1")
    await first.close()
    third = store(pg_url)
    assert await third.get("r2") is not None
    await second.close()
    await third.close()


async def test_expiry_follows_the_ttl(pg_url: str) -> None:
    clock = Clock()
    s = store(pg_url, ttl=5, clock=clock)
    await s.put(rec("a"))
    clock.now += 4
    assert await s.get("a") is not None
    clock.now += 2
    assert await s.get("a") is None
    with pytest.raises(NotFound):
        await load_conversation(s, "a")
    await s.close()
    with pytest.raises(ValueError):
        store(pg_url, ttl=0)


async def test_a_put_replaces_and_renews(pg_url: str) -> None:
    clock = Clock()
    s = store(pg_url, ttl=5, clock=clock)
    await s.put(rec("a", text="old"))
    clock.now += 4
    await s.put(rec("a", text="new"))
    clock.now += 4
    got = await s.get("a")
    assert got is not None and got.items[0]["content"] == "new"
    await s.close()


async def test_a_conversation_is_one_query_and_keeps_the_404_rules(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = store(pg_url)
    assert isinstance(s, ChainStore)
    for i in range(1, 51):
        await s.put(rec(f"r{i}", f"r{i - 1}" if i > 1 else None, f"turn {i}"))

    async def no_get(response_id: str) -> StoredResponse | None:
        raise AssertionError("walked turn by turn")

    monkeypatch.setattr(s, "get", no_get)
    items = await load_conversation(s, "r50")
    assert [i["content"] for i in items] == [f"turn {i}" for i in range(1, 51)]
    with pytest.raises(NotFound, match="longer than 10 turns"):
        await load_conversation(s, "r50", max_turns=10)
    assert len(await load_conversation(s, "r10", max_turns=10)) == 10
    await s.delete("r25")
    with pytest.raises(NotFound, match="earlier turn, 'r25'"):
        await load_conversation(s, "r30")
    with pytest.raises(NotFound) as exc:
        await load_conversation(s, "nope")
    assert exc.value.param == "previous_response_id"
    await s.close()


async def test_expired_rows_are_purged_as_writes_go_on(pg_url: str) -> None:
    clock = Clock()
    s = store(pg_url, ttl=5, clock=clock)
    s._rows.purge_every = 4
    for i in range(3):
        await s.put(rec(f"old{i}"))
    clock.now += 10
    await s.put(rec("new"))  # the 4th write purges
    async with s.db.connection() as conn:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM responses")]
    assert ids == ["new"]
    await s.close()


async def test_the_config_row_for_postgres_works(pg_url: str) -> None:
    settings = StateStorage(type="postgres", connection_string=pg_url, ttl=60)
    s = store_from_config(settings)
    assert isinstance(s, PostgresResponseStore) and s.ttl == 60
    await s.put(rec("cfg"))
    assert await s.get("cfg") is not None
    await s.close()
