"""The key cache (TTL, one read per digest however many wait, forgetting a revoked key, a
store that is down, bounded size) and model access by every name of a deployment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plano.config import check_config
from plano.config.auth import StaticKey
from plano.filters.keys import KeyCache, ModelAccess, StaticKeys
from plano.routing.catalog import ModelCatalog
from plano.store.keys import KeyQuery, KeyRecord, hash_key, key_hint, new_key
from plano.store.protocols import StoreUnavailable


class FakeStore:
    """Keys in a dict; counts reads; can be down or slow."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyRecord] = {}
        self.reads = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    def add(self, key_id: str, key: str, **over: Any) -> KeyRecord:
        r = KeyRecord(key_id, hash_key(key), key_hint(key), 1.0, user="u", **over)
        self.keys[r.key_hash] = r
        return r

    async def by_hash(self, key_hash: str) -> KeyRecord | None:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnavailable("down")
        return self.keys.get(key_hash)

    async def create(self, record: KeyRecord) -> None:
        raise NotImplementedError

    async def get(self, key_id: str) -> KeyRecord | None:
        raise NotImplementedError

    async def list(self, q: KeyQuery) -> Any:
        raise NotImplementedError

    async def revoke(self, key_id: str, at: float) -> KeyRecord | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_read_once_per_ttl_unknown_ones_too() -> None:
    store, clock = FakeStore(), Clock()
    key = new_key()
    store.add("k1", key, team="red", tags=("a",), models=("fast",))
    cache = KeyCache(store, clock=clock)
    found = await cache.lookup(hash_key(key), ttl=5)
    assert found is not None and found.principal.id == "k1" and found.principal.kind == "key"
    assert found.principal.team == "red" and found.principal.tags == frozenset({"a"})
    assert found.info.models == ("fast",) and found.info.source == "store"
    await cache.lookup(hash_key(key), ttl=5)
    unknown = hash_key(new_key())
    assert await cache.lookup(unknown, ttl=5) is None
    assert await cache.lookup(unknown, ttl=5) is None
    assert store.reads == 2
    clock.now += 5
    await cache.lookup(hash_key(key), ttl=5)
    assert store.reads == 3 and cache.stats()["hits"] == 2


async def test_many_waiting_for_one_digest_make_one_read() -> None:
    store = FakeStore()
    key = new_key()
    store.add("k1", key)
    store.gate = asyncio.Event()
    cache = KeyCache(store)
    waiting = [asyncio.ensure_future(cache.lookup(hash_key(key), ttl=5)) for _ in range(50)]
    await asyncio.sleep(0.01)
    waiting[0].cancel()  # one client leaves: the others still get the answer
    store.gate.set()
    done = await asyncio.gather(*waiting[1:])
    assert store.reads == 1 and all(k is not None and k.principal.id == "k1" for k in done)


async def test_forget_drops_a_key_even_while_it_is_being_read() -> None:
    store = FakeStore()
    key = new_key()
    store.add("k1", key)
    cache = KeyCache(store)
    await cache.lookup(hash_key(key), ttl=60)
    cache.forget("k1")
    store.keys[hash_key(key)] = store.add("k1", key, revoked_at=5.0)
    again = await cache.lookup(hash_key(key), ttl=60)
    assert again is not None and again.revoked_at == 5.0
    # A read that began before a revocation landed is not kept.
    store.gate = asyncio.Event()
    cache.forget("k1")
    pending = asyncio.ensure_future(cache.lookup(hash_key(key), ttl=60))
    await asyncio.sleep(0)
    cache.forget("k1")
    store.gate.set()
    await pending
    assert cache.stats()["entries"] == 0


async def test_a_store_that_is_down_keeps_known_keys_and_refuses_new_ones() -> None:
    store, clock = FakeStore(), Clock()
    key = new_key()
    store.add("k1", key)
    cache = KeyCache(store, clock=clock)
    await cache.lookup(hash_key(key), ttl=1)
    store.down = True
    clock.now += 10
    stale = await cache.lookup(hash_key(key), ttl=1)
    assert stale is not None and stale.principal.id == "k1" and cache.stats()["stale"] == 1
    with pytest.raises(StoreUnavailable):
        await cache.lookup(hash_key(new_key()), ttl=1)


async def test_the_cache_is_bounded() -> None:
    cache = KeyCache(FakeStore(), max_entries=3)
    for _ in range(10):
        await cache.lookup(hash_key(new_key()), ttl=60)
    assert cache.stats()["entries"] == 3


def test_static_keys_by_digest_and_id_never_empty_ones() -> None:
    keys = [
        StaticKey(id="a", key="a-very-long-static-key", principal={"team": "red"}),
        StaticKey(id="b", key=""),
    ]
    table = StaticKeys(keys)
    assert set(table.by_id) == {"a"}
    known = table.by_digest[hash_key("a-very-long-static-key")]
    assert known.principal.team == "red" and known.info.source == "config"
    assert "a-very-long-static-key" not in str(table.describe(known))


@pytest.fixture
def access() -> tuple[ModelAccess, ModelCatalog]:
    raw = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "default": True},
            {"model": "openai/gpt-4o", "access_key": "k", "name": "big"},
            {"model": "anthropic/claude-opus-4", "access_key": "k"},
            {"model": "groq/*", "access_key": "k"},
        ],
        "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}, "smart": {"target": "big"}},
        "model_pools": {"cheap": {"deployments": ["openai/gpt-4o-mini", "groq/llama-3"]}},
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    return ModelAccess(config), ModelCatalog(config.model_providers, config.model_aliases)


def test_a_requested_name_is_allowed_by_itself_or_by_what_it_names(
    access: tuple[ModelAccess, ModelCatalog],
) -> None:
    a, _ = access
    assert a.allows_name((), "anything")
    assert a.allows_name(("fast",), "fast")
    assert a.allows_name(("fast",), "openai/gpt-4o-mini")  # what fast stands for
    assert a.allows_name(("fast",), "gpt-4o-mini") and a.allows_name(("fast",), "")  # default
    assert not a.allows_name(("fast",), "big") and not a.allows_name(("fast",), "smart")
    assert a.allows_name(("openai/*",), "smart")  # smart -> big -> openai/gpt-4o
    assert not a.allows_name(("openai/*",), "anthropic/claude-opus-4")
    assert a.allows_name(("groq/*",), "groq/llama-3") and not a.allows_name(("big",), "nope/x")
    assert a.allows_name(("cheap",), "cheap") and not a.allows_name(("fast",), "cheap")


def test_every_deployment_is_checked_by_all_its_names(
    access: tuple[ModelAccess, ModelCatalog],
) -> None:
    a, catalog = access
    mini = catalog.resolve("openai/gpt-4o-mini")
    big = catalog.resolve("big")
    llama = catalog.resolve("groq/llama-3")
    assert a.names(mini) >= {"openai/gpt-4o-mini", "gpt-4o-mini", "fast", "cheap"}
    assert a.names(big) >= {"openai/gpt-4o", "big", "smart"} and "cheap" not in a.names(big)
    assert "cheap" in a.names(llama)
    assert a.allows(("cheap",), llama) and a.allows(("cheap",), mini)
    assert not a.allows(("cheap",), big) and not a.allows(("fast", "claude*"), big)
    assert a.allows(("*",), big)
