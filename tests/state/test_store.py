"""Response stores: the in-memory LRU with TTL and conversation chains."""

from __future__ import annotations

import logging

import pytest

from plano.errors import NotFound
from plano.state import MemoryResponseStore, StoredResponse, load_conversation
from plano.state.store import DEFAULT_MAX_BYTES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rec(rid: str, prev: str | None = None, text: str = "") -> StoredResponse:
    items = [{"role": "user", "content": text or rid}]
    return StoredResponse(rid, 0.0, {"id": rid, "object": "response"}, items, prev)


async def test_memory_lru_evicts_least_recently_used() -> None:
    store = MemoryResponseStore(max_entries=2)
    await store.put(rec("a"))
    await store.put(rec("b"))
    assert await store.get("a") is not None  # a is now the most recent
    await store.put(rec("c"))
    assert await store.get("b") is None
    assert {r.id for r in [await store.get("a"), await store.get("c")] if r} == {"a", "c"}
    assert len(store) == 2


async def test_memory_ttl_and_delete() -> None:
    clock = Clock()
    store = MemoryResponseStore(ttl=10, clock=clock)
    await store.put(rec("a"))
    clock.now += 9
    assert await store.get("a") is not None
    clock.now += 2
    assert await store.get("a") is None
    await store.put(rec("b"))
    assert await store.delete("b") and not await store.delete("b")


def test_memory_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        MemoryResponseStore(max_entries=0)
    with pytest.raises(ValueError):
        MemoryResponseStore(max_bytes=0)


def size(record: StoredResponse) -> int:
    return len(record.dumps())


def test_memory_is_bounded_by_bytes_by_default() -> None:
    # Entries alone once allowed 10,000 turns of 10 MB each.
    store = MemoryResponseStore()
    assert store.max_bytes == DEFAULT_MAX_BYTES == 128 * 1024 * 1024


async def test_memory_evicts_least_recently_used_past_the_byte_bound() -> None:
    a, b, c = rec("a", text="x" * 1000), rec("b", text="y" * 1000), rec("c", text="z" * 1000)
    store = MemoryResponseStore(max_entries=100, max_bytes=size(a) + size(b) + size(c) // 2)
    await store.put(a)
    await store.put(b)
    assert store.nbytes == size(a) + size(b)
    assert await store.get("a") is not None  # a is now the most recent
    await store.put(c)
    assert await store.get("b") is None
    assert await store.get("a") == a and await store.get("c") == c
    assert store.nbytes == size(a) + size(c)


async def test_a_record_larger_than_the_byte_bound_is_not_stored_and_evicts_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = rec("small")
    store = MemoryResponseStore(max_bytes=size(small) * 3)
    await store.put(small)
    with caplog.at_level(logging.DEBUG, logger="plano.state"):
        await store.put(rec("big1", text="x" * 1000))
        await store.put(rec("big2", text="x" * 1000))
    assert await store.get("big1") is None and await store.get("big2") is None
    assert await store.get("small") == small
    assert store.nbytes == size(small)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once, not per record
    assert "big1" in warnings[0].getMessage() and "not stored" in warnings[0].getMessage()


async def test_replacing_a_record_counts_its_bytes_once() -> None:
    store = MemoryResponseStore(max_bytes=10_000)
    await store.put(rec("a", text="old"))
    await store.put(rec("a", text="new"))
    assert len(store) == 1 and store.nbytes == size(rec("a", text="new"))
    # An oversized new version does not leave the old one behind to be served as current.
    await store.put(rec("a", text="x" * 20_000))
    assert await store.get("a") is None and store.nbytes == 0


async def test_deleted_and_expired_records_give_their_bytes_back() -> None:
    clock = Clock()
    store = MemoryResponseStore(ttl=10, clock=clock)
    await store.put(rec("a"))
    await store.put(rec("b"))
    await store.delete("a")
    assert store.nbytes == size(rec("b"))
    clock.now += 11
    assert await store.get("b") is None
    assert store.nbytes == 0


async def test_a_record_is_serialized_once_not_on_each_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    dumps = StoredResponse.dumps

    def counting(self: StoredResponse) -> bytes:
        calls.append(self.id)
        return dumps(self)

    monkeypatch.setattr(StoredResponse, "dumps", counting)
    store = MemoryResponseStore(max_entries=1)
    await store.put(rec("a"))
    for _ in range(3):
        assert await store.get("a") is not None
    await store.put(rec("b"))  # evicts a
    assert calls == ["a", "b"]


async def test_conversation_walks_the_chain_oldest_first() -> None:
    store = MemoryResponseStore()
    await store.put(rec("r1", None, "one"))
    await store.put(rec("r2", "r1", "two"))
    await store.put(rec("r3", "r2", "three"))
    items = await load_conversation(store, "r3")
    assert [i["content"] for i in items] == ["one", "two", "three"]


async def test_conversation_with_a_missing_link_is_404_not_shorter() -> None:
    store = MemoryResponseStore()
    await store.put(rec("r2", "r1"))
    with pytest.raises(NotFound, match="earlier turn, 'r1'"):
        await load_conversation(store, "r2")
    with pytest.raises(NotFound) as exc:
        await load_conversation(store, "nope")
    assert exc.value.param == "previous_response_id"
