"""The KeyValue contract, run against every backend: memory, SQLite, Redis."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from tests.store.hot_backends import BACKENDS, Backends, backends_for, eventually

from plano.store.protocols import KeyValue


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncGenerator[Backends, None]:
    async for made in backends_for(request.param, tmp_path):
        yield made


@pytest.fixture
def kv(stores: Backends) -> KeyValue:
    return stores.kv()


async def test_set_get_delete(kv: KeyValue) -> None:
    assert await kv.get("pin:s1") is None
    await kv.set("pin:s1", b"dep-a")
    assert await kv.get("pin:s1") == b"dep-a"
    await kv.set("pin:s1", b"\x00\xff binary")
    assert await kv.get("pin:s1") == b"\x00\xff binary"
    assert await kv.delete("pin:s1") is True
    assert await kv.delete("pin:s1") is False
    assert await kv.get("pin:s1") is None


async def test_ttl_expires_everywhere(kv: KeyValue) -> None:
    await kv.set("short", b"1", ttl=0.3)
    await kv.set("long", b"2", ttl=60)
    await kv.set("kept", b"3")
    assert await kv.get_many(["short", "long", "kept"]) == {
        "short": b"1",
        "long": b"2",
        "kept": b"3",
    }
    await eventually(lambda: kv.get("short"), lambda v: v is None)
    assert await kv.get_many(["short", "long"]) == {"long": b"2"}
    assert await kv.scan("") == {"long": b"2", "kept": b"3"}
    assert await kv.delete("short") is False


async def test_set_without_ttl_clears_an_earlier_ttl(kv: KeyValue) -> None:
    await kv.set("k", b"1", ttl=0.2)
    await kv.set("k", b"2")
    await kv.set("gone", b"x", ttl=0)
    await kv.set("other", b"y", ttl=0.2)
    await eventually(lambda: kv.get("other"), lambda v: v is None)
    assert await kv.get("k") == b"2"
    assert await kv.get("gone") is None


async def test_get_many_returns_only_existing_keys(kv: KeyValue) -> None:
    assert await kv.get_many([]) == {}
    await kv.set("a", b"1")
    await kv.set("c", b"3")
    assert await kv.get_many(["a", "b", "c", "a"]) == {"a": b"1", "c": b"3"}
    many = [f"k{i}" for i in range(1200)]  # past SQLite's bound-parameter chunk
    for name in many[::100]:
        await kv.set(name, name.encode())
    assert await kv.get_many(many) == {n: n.encode() for n in many[::100]}


async def test_scan_by_prefix_with_a_limit(kv: KeyValue) -> None:
    for i in range(5):
        await kv.set(f"health:dep{i}", str(i).encode())
    await kv.set("healthy", b"no")
    await kv.set("pin:x", b"no")
    await kv.set("odd*[key]?", b"glob")
    await kv.set("odd-key", b"plain")
    found = await kv.scan("health:")
    assert found == {f"health:dep{i}": str(i).encode() for i in range(5)}
    limited = await kv.scan("health:", limit=2)
    assert len(limited) == 2 and limited.items() <= found.items()
    assert await kv.scan("odd*[") == {"odd*[key]?": b"glob"}  # no glob semantics
    assert await kv.scan("nothing") == {}


async def test_prefixes_keep_stores_apart(stores: Backends) -> None:
    if stores.backend == "memory":
        pytest.skip("memory stores are separate per instance")
    one, other = stores.kv(), stores.kv(prefix=stores.other_prefix)
    await one.set("k", b"1")
    assert await other.get("k") is None
    assert await other.scan("") == {}
    assert await stores.kv().get("k") == b"1"
