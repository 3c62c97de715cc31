"""The Counters contract, run against every backend: memory, SQLite, Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from tests.store.hot_backends import BACKENDS, Backends, backends_for, eventually

from plano.store.protocols import Counters


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncGenerator[Backends, None]:
    async for made in backends_for(request.param, tmp_path):
        yield made


@pytest.fixture
def counters(stores: Backends) -> Counters:
    return stores.counters()


async def fresh_bucket(window: float) -> None:
    """Sleep to just after a window boundary: the calls that follow share one bucket (calls
    that straddle one see the previous bucket's share decay, whatever the backend)."""
    await asyncio.sleep(window - time.time() % window + 0.005)


async def test_reserve_is_all_or_nothing_across_keys(counters: Counters) -> None:
    limits = {"org": 10.0, "user": 5.0}
    first = await counters.reserve({"org": 3, "user": 3}, limits)
    assert first is not None and first.amounts == {"org": 3, "user": 3}
    assert first.expires_at > time.time()
    assert await counters.reserve({"org": 3, "user": 3}, limits) is None  # user: 6 > 5
    assert await counters.get("org") == (0.0, 3.0)  # nothing of the refused one is held
    assert await counters.get("user") == (0.0, 3.0)


async def test_limits_are_inclusive_and_unlimited_keys_are_held_unchecked(
    counters: Counters,
) -> None:
    assert await counters.reserve({"k": 4}, {"k": 4}) is not None
    assert await counters.reserve({"k": 0.5}, {"k": 4}) is None
    held = await counters.reserve({"free": 1e9, "k": 0}, {"k": 4})
    assert held is not None  # "free" has no limit; k still fits with 0
    assert await counters.get("free") == (0.0, 1e9)
    assert await counters.get("unknown") == (0.0, 0.0)


async def test_float_sums_fit_their_limit(counters: Counters) -> None:
    assert await counters.reserve({"k": 0.1}, {"k": 0.3}) is not None
    assert await counters.reserve({"k": 0.2}, {"k": 0.3}) is not None
    assert await counters.reserve({"k": 0.001}, {"k": 0.3}) is None


async def test_settle_spends_more_or_less_than_held(counters: Counters) -> None:
    res = await counters.reserve({"k": 5}, {"k": 10})
    assert res is not None
    await counters.settle(res, {"k": 7})  # more than held
    assert await counters.get("k") == (7.0, 0.0)
    assert await counters.reserve({"k": 4}, {"k": 10}) is None
    res = await counters.reserve({"k": 3}, {"k": 10})
    assert res is not None
    await counters.settle(res, {"k": 1})  # less than held
    assert await counters.get("k") == (8.0, 0.0)


async def test_settle_spends_keys_missing_from_either_side(counters: Counters) -> None:
    res = await counters.reserve({"a": 2, "b": 2}, {})
    assert res is not None
    await counters.settle(res, {"a": 1, "c": 4})  # b spends 0, c was never held
    assert await counters.get("a") == (1.0, 0.0)
    assert await counters.get("b") == (0.0, 0.0)
    assert await counters.get("c") == (4.0, 0.0)


async def test_release_drops_the_hold_without_spending(counters: Counters) -> None:
    await counters.add("k", 2)
    res = await counters.reserve({"k": 5}, {"k": 10})
    assert res is not None
    await counters.release(res)
    assert await counters.get("k") == (2.0, 0.0)
    assert await counters.reserve({"k": 8}, {"k": 10}) is not None


async def test_settle_and_release_are_idempotent(counters: Counters) -> None:
    res = await counters.reserve({"k": 5}, {"k": 100})
    assert res is not None
    await counters.settle(res, {"k": 4})
    await counters.settle(res, {"k": 4})
    await counters.release(res)
    assert await counters.get("k") == (4.0, 0.0)
    other = await counters.reserve({"k": 5}, {"k": 100})
    assert other is not None
    await counters.release(other)
    await counters.settle(other, {"k": 5})  # released first: the settle is a no-op
    await counters.release(other)
    assert await counters.get("k") == (4.0, 0.0)


async def test_a_dead_holders_reservation_expires(counters: Counters) -> None:
    dead = await counters.reserve({"k": 8}, {"k": 10}, ttl=0.3)
    assert dead is not None and dead.expires_at <= time.time() + 0.35
    assert await counters.reserve({"k": 8}, {"k": 10}) is None
    await eventually(lambda: counters.get("k"), lambda v: v == (0.0, 0.0))
    alive = await counters.reserve({"k": 8}, {"k": 10})
    assert alive is not None
    # A holder that was only slow still spends what it spent when it settles late.
    await counters.settle(dead, {"k": 1})
    assert await counters.get("k") == (1.0, 8.0)


async def test_add_is_unconditional_and_its_ttl_expires_the_key(counters: Counters) -> None:
    assert await counters.add("p", 5, ttl=0.3) == 5.0
    assert await counters.add("p", 2.5) == 7.5  # no ttl: the key keeps its expiry
    assert await counters.get("p") == (7.5, 0.0)
    await eventually(lambda: counters.get("p"), lambda v: v == (0.0, 0.0))
    assert await counters.add("p", 1) == 1.0  # a new period starts at 0
    assert await counters.add("forever", 1e6) == 1e6


async def test_200_concurrent_reserves_never_overrun_the_limit(counters: Counters) -> None:
    results = await asyncio.gather(
        *(counters.reserve({"k": 1, "org": 1}, {"k": 150}) for _ in range(200))
    )
    won = [r for r in results if r is not None]
    assert len(won) == 150
    assert await counters.get("k") == (0.0, 150.0)
    await asyncio.gather(*(counters.settle(r, {"k": 1}) for r in won))
    assert await counters.get("k") == (150.0, 0.0)
    assert await counters.get("org") == (0.0, 0.0)


async def test_window_admits_up_to_the_limit_then_refuses(counters: Counters) -> None:
    await fresh_bucket(0.5)
    for i in range(3):
        d = await counters.window("rpm", 1, 3, 0.5)
        assert d.allowed and d.retry_after == 0
        assert d.count == pytest.approx(i + 1, abs=0.05)
    refused = await counters.window("rpm", 1, 3, 0.5)
    assert not refused.allowed
    assert refused.remaining == pytest.approx(0, abs=0.05)
    assert 0 < refused.retry_after <= 1.0
    again = await counters.window("rpm", 1, 3, 0.5)  # a refusal adds nothing
    assert not again.allowed and again.count == pytest.approx(refused.count, abs=0.05)
    await asyncio.sleep(again.retry_after)
    assert (await counters.window("rpm", 1, 3, 0.5)).allowed


async def test_window_recovers_after_two_windows_and_keys_are_separate(counters: Counters) -> None:
    await fresh_bucket(0.2)
    for _ in range(5):
        await counters.window("a", 1, 5, 0.2)
    assert not (await counters.window("a", 1, 5, 0.2)).allowed
    assert (await counters.window("b", 5, 5, 0.2)).allowed
    await asyncio.sleep(0.41)
    fresh = await counters.window("a", 5, 5, 0.2)
    assert fresh.allowed and fresh.remaining == pytest.approx(0, abs=1e-6)


async def test_window_amount_above_the_limit_never_fits(counters: Counters) -> None:
    d = await counters.window("w", 11, 10, 2.0)
    assert not d.allowed and d.retry_after == pytest.approx(2.0)
    assert d.count == 0 and d.remaining == 10


async def test_windows_decides_each_in_order_in_one_call(counters: Counters) -> None:
    assert await counters.windows([]) == []
    first = await counters.windows([("req", 1, 2, 60), ("tok", 50, 100, 60), ("req", 1, 2, 60)])
    assert [d.allowed for d in first] == [True, True, True]
    assert [d.remaining for d in first] == pytest.approx([1, 50, 0], abs=0.01)
    # Each on its own: "tok" is refused, the others still count.
    second = await counters.windows([("tok", 60, 100, 60), ("other", 1, 1, 60)])
    assert [d.allowed for d in second] == [False, True]
    assert second[0].retry_after > 0 and second[0].count == pytest.approx(50, abs=0.01)
    single = await counters.window("req", 1, 2, 60)
    assert not single.allowed  # the same windows as window() uses
    assert (await counters.windows([("huge", 1e9, 1e18, 60)]))[0].allowed


async def test_prefixes_keep_stores_apart(stores: Backends) -> None:
    if stores.backend == "memory":
        pytest.skip("memory stores are separate per instance")
    one, other = stores.counters(), stores.counters(prefix=stores.other_prefix)
    await one.add("k", 3)
    assert await other.get("k") == (0.0, 0.0)
    assert await stores.counters().get("k") == (3.0, 0.0)  # same prefix: same state
