"""Response stores: the in-memory LRU with TTL and conversation chains."""

from __future__ import annotations

import pytest

from plano.errors import NotFound
from plano.state import MemoryResponseStore, StoredResponse, load_conversation


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
