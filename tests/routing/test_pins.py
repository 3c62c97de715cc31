"""Session pins shared through a key-value store: the local map first, one bounded read for a
pin this process does not have (a miss on error or time-out), write-back in the background
only when the local map changed, tenant scoping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from tests.routing.smart_support import FakeClock, ctx, names, request, router

from plano.routing import metrics as m
from plano.routing.pins import SharedPins, pin_key
from plano.routing.router import Plan
from plano.routing.smart import SmartRouter
from plano.store.health import StoreHealth
from plano.store.memory import MemoryKeyValue
from plano.store.protocols import StoreUnavailable

POOL = {"chat": {"strategy": "round_robin", "deployments": ["mini-a", "mini-b"]}}
SESSION = {"x-plano-session-id": "conv-1"}


class CountingKV(MemoryKeyValue):
    """The memory store, counting calls; it can be down or slow."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.sets = 0
        self.down = False
        self.delay = 0.0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise StoreUnavailable("Redis at test unavailable")
        return await super().get(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.sets += 1
        if self.down:
            raise StoreUnavailable("Redis at test unavailable")
        await super().set(key, value, ttl)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        return await super().get_many(keys)


@pytest.fixture
async def kv() -> AsyncIterator[CountingKV]:
    store = CountingKV()
    yield store
    await store.close()


def shared_router(kv: CountingKV, clock: FakeClock | None = None, **extra: Any) -> SmartRouter:
    r = router(clock, model_pools=POOL, **extra)
    r.shared_pins = SharedPins(kv, health=StoreHealth("pins", "memory", "test"))
    return r


async def plan_of(r: SmartRouter, headers: dict[str, str] | None = None) -> Plan:
    got = r.plan(ctx(request("chat"), headers))
    return got if isinstance(got, Plan) else await got


async def settle(r: SmartRouter) -> None:
    assert r.shared_pins is not None
    await r.shared_pins.close()


async def test_a_pin_made_by_one_process_is_honoured_by_another(kv: CountingKV) -> None:
    a, b = shared_router(kv), shared_router(kv)
    first = await plan_of(a, SESSION)
    assert first.tracker is not None
    pinned = first.deployments[-1]  # not the one round robin would give b first
    first.tracker.succeeded(pinned)
    await settle(a)
    assert kv.sets == 1
    for _ in range(3):
        assert names(await plan_of(b, SESSION))[0] == pinned.key
    assert kv.gets == 2  # a's miss, then b's one read: then the pin is in b's own map
    assert b.counters.get(m.SHARED_PINS, result="hit") == 1


async def test_no_session_or_a_local_pin_costs_no_read(kv: CountingKV) -> None:
    r = shared_router(kv)
    plan = r.plan(ctx(request("chat")))
    assert isinstance(plan, Plan)  # no session: a plan at once
    first = await plan_of(r, SESSION)  # not local: one read (a miss)
    assert kv.gets == 1 and r.counters.get(m.SHARED_PINS, result="miss") == 1
    assert first.tracker is not None
    first.tracker.succeeded(first.deployments[0])
    again = r.plan(ctx(request("chat"), SESSION))
    assert isinstance(again, Plan) and kv.gets == 1  # local now: synchronous, no read
    assert again.tracker is not None
    again.tracker.succeeded(again.deployments[0])  # still fresh: nothing written again
    await settle(r)
    assert kv.sets == 1


async def test_a_store_that_is_down_or_slow_is_a_miss_not_a_failure(kv: CountingKV) -> None:
    r = shared_router(kv)
    assert r.shared_pins is not None
    kv.down = True
    plan = await plan_of(r, SESSION)
    assert names(plan)  # routed afresh
    assert r.shared_pins.health is not None and r.shared_pins.health.status == "degraded"
    assert plan.tracker is not None
    plan.tracker.succeeded(plan.deployments[0])  # the write fails in the background, quietly
    await settle(r)
    kv.down = False
    kv.delay = 0.5
    slow = shared_router(kv)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert names(await plan_of(slow, {"x-plano-session-id": "conv-2"}))
    assert loop.time() - started < 0.3  # the read's 50 ms limit, not the store's half second


async def test_the_tenant_header_scopes_pins(kv: CountingKV) -> None:
    cache = {"session_cache": {"type": "redis", "url": "redis://x", "tenant_header": "X-Tenant"}}
    a = shared_router(kv, routing=cache)
    b = shared_router(kv, routing=cache)
    first = await plan_of(a, {**SESSION, "x-tenant": "acme"})
    assert first.tracker is not None
    first.tracker.succeeded(first.deployments[-1])
    await settle(a)
    assert names(await plan_of(b, {**SESSION, "x-tenant": "acme"}))[0] == first.deployments[-1].key
    await plan_of(b, {**SESSION, "x-tenant": "other"})
    assert b.counters.get(m.SHARED_PINS, result="miss") == 1  # another tenant's session
    assert pin_key("acme\0conv-1", "chat") != pin_key("other\0conv-1", "chat")


async def test_a_shared_pin_keeps_its_age_and_expires_with_it(kv: CountingKV) -> None:
    clock = FakeClock()
    a = shared_router(kv, clock)
    first = await plan_of(a, SESSION)
    assert first.tracker is not None
    first.tracker.succeeded(first.deployments[0])
    await settle(a)
    b = shared_router(kv, clock)
    assert b.shared_pins is not None
    b.shared_pins._wall = lambda: 1e10  # long after it was pinned (wall clock)
    await plan_of(b, SESSION)
    assert b.affinity.get("conv-1", "chat", clock()) is None  # too old: not used


async def test_a_pin_to_a_route_this_config_lacks_is_ignored(kv: CountingKV) -> None:
    r = shared_router(kv)
    assert r.shared_pins is not None
    r.shared_pins.put("conv-1", "chat", "mini-a", "gone-route", 600)
    await settle(r)
    await plan_of(r, SESSION)
    assert r.counters.get(m.SHARED_PINS, result="miss") == 1
