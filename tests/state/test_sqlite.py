"""The SQLite response store: persistence across instances, expiry, deletes."""

from __future__ import annotations

from pathlib import Path

from tests.state.test_store import Clock, rec

from plano.state import SQLiteResponseStore, load_conversation


async def test_sqlite_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "state" / "responses.db"
    first = SQLiteResponseStore(path)
    await first.put(rec("r1", None, "one"))
    await first.put(rec("r2", "r1", "two"))
    assert (await first.get("r2")) is not None  # from the cache at once
    await first.close()
    second = SQLiteResponseStore(path)
    items = await load_conversation(second, "r2")
    assert [i["content"] for i in items] == ["one", "two"]
    assert await second.delete("r1") and await second.get("r1") is None
    assert not await second.delete("r1")
    await second.close()


async def test_sqlite_expiry(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteResponseStore(tmp_path / "r.db", ttl=5, cache_entries=1, clock=clock)
    await store.put(rec("a"))
    await store.put(rec("b"))  # evicts a from the cache; a is read from disk
    assert await store.get("a") is not None
    clock.now += 6
    assert await store.get("a") is None
    await store.close()


async def test_sqlite_cache_is_bounded_by_bytes_and_big_records_come_from_disk(
    tmp_path: Path,
) -> None:
    big = rec("big", text="x" * 5000)
    store = SQLiteResponseStore(tmp_path / "r.db", cache_bytes=len(big.dumps()) - 1)
    await store.put(rec("small"))
    await store.put(big)
    assert store._cache.nbytes == len(rec("small").dumps())  # big is not cached...
    assert await store.get("big") == big  # ...but stored on disk, and read back
    assert await store.get("small") is not None
    await store.close()
