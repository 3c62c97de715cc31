"""Routing health shared between processes: the merge rule (pure), and the sync task between
two routers on one topic store (two processes, in one test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from tests.routing.smart_support import FakeClock, ctx, names, request, router

from plano.errors import UpstreamStatusError
from plano.routing.health import HealthBoard
from plano.routing.shared_health import HealthSync, export_view, merge_views
from plano.routing.smart import SmartRouter
from plano.store.health import StoreHealth
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import StoreUnavailable

WALL = 1_700_000_000.0
POOL = {"chat": {"strategy": "round_robin", "deployments": ["mini-a", "mini-b"]}}


def everything(_name: str) -> bool:
    return True


def test_a_view_carries_cool_downs_open_breakers_and_latency_in_wall_time() -> None:
    board = HealthBoard()
    board.record("a", 100.0, failed=True, retry_after=30)  # cooling until mono 130
    for _ in range(5):
        board.record("b", 100.0, failed=True)  # five failures: open until 100 + 10
    board.record("c", 100.0, failed=False, latency_ms=250.0)
    view = export_view(board, 100.0, WALL)
    assert view["a"][0] == WALL + 30 and view["a"][1] == 0.0
    assert view["b"][1] == WALL + 10
    assert view["c"] == [0.0, 0.0, None, 250.0]
    assert export_view(HealthBoard(), 100.0, WALL) == {}  # nothing learned: nothing to say


def test_merge_latest_cool_down_any_open_breaker_and_mean_latency() -> None:
    board = HealthBoard()
    board.record("a", 0.0, failed=False, latency_ms=100.0)
    views: list[Mapping[str, Any]] = [
        {"a": [WALL + 5, 0.0, None, 300.0]},
        {"a": [WALL + 20, 0.0, None, 200.0], "b": [0.0, WALL + 8, 40.0, None]},
        {"a": [0.0, 0.0, None, None]},
    ]
    assert merge_views(board, views, 50.0, WALL, everything) == 2
    a = board.get("a")
    assert a.peers.until == 50.0 + 20  # the latest cool-down any process learned
    assert a.ready_at(50.0) == 70.0
    assert a.latency(stream=False) == pytest.approx((100 + 300 + 200) / 3)  # mean of averages
    assert a.peers.processes == 3
    b = board.get("b")
    assert b.ready_at(50.0) == 58.0  # another process's open breaker keeps this one away
    assert b.latency(stream=True) == 40.0
    # Peers gone (or the store down): back to this process's own view.
    merge_views(board, [], 60.0, WALL + 10, everything)
    assert a.ready_at(60.0) == 60.0 and a.latency(stream=False) == 100.0


def test_merge_skips_what_has_passed_unknown_names_and_bad_entries() -> None:
    board = HealthBoard()
    views: list[Mapping[str, Any]] = [
        {"old": [WALL - 1, 0.0, None, None], "x": "nonsense", "y": [1, 2]},
        {"stranger": [WALL + 60, 0.0, None, None]},
    ]
    merge_views(board, views, 10.0, WALL, lambda name: name != "stranger")
    assert board.get("old").ready_at(10.0) == 10.0
    assert not board.known("stranger")


def test_what_a_process_merged_is_not_published_again() -> None:
    board = HealthBoard()
    merge_views(board, [{"a": [WALL + 30, 0.0, 10.0, None]}], 0.0, WALL, everything)
    assert export_view(board, 0.0, WALL) == {}  # no echo: only what it learned itself


def test_a_cool_down_or_an_opening_breaker_is_news_at_once() -> None:
    board = HealthBoard()
    news: list[int] = []
    board.on_news = lambda: news.append(1)
    board.record("a", 0.0, failed=False, latency_ms=5.0)
    assert news == []
    board.record("a", 0.0, failed=True, retry_after=10)
    board.record("a", 1.0, failed=True, retry_after=2)  # within the first: no news
    assert len(news) == 1
    for _ in range(5):
        board.record("b", 0.0, failed=True)
    assert len(news) == 2


class Process:
    """One gateway process: its router and its sync, on a topic store shared with others."""

    def __init__(self, topics: Any, clock: FakeClock, wall: list[float], name: str) -> None:
        self.router: SmartRouter = router(clock, model_pools=POOL)
        self.health = StoreHealth("hot", "memory", "test")
        self.sync = HealthSync(
            topics,
            lambda: self.router,
            0.25,
            health=self.health,
            instance=name,
            wall=lambda: wall[0],
        )


@pytest.fixture
async def topics() -> AsyncIterator[MemoryTopics]:
    t = MemoryTopics()
    yield t
    await t.close()


async def test_a_429_seen_by_one_process_moves_the_other_off_that_deployment(
    topics: MemoryTopics,
) -> None:
    clock, wall = FakeClock(), [WALL]
    a, b = Process(topics, clock, wall, "a"), Process(topics, clock, wall, "b")
    await a.sync.tick()
    await b.sync.tick()
    mini_a = a.router.catalog.resolve("mini-a")
    a.router.report(mini_a, UpstreamStatusError("slow down", status=429, retry_after=30), 1, None)
    await a.sync.tick()  # (the task publishes at once: the board's news wakes it)
    await b.sync.tick()
    for _ in range(4):  # round robin would put mini-a first every other time
        assert names(b.router.plan(ctx(request("chat")))) == ["mini-b", "mini-a"]
    shown = {d["deployment"]: d for d in b.router.status()["deployments"]}  # type: ignore[attr-defined]
    assert shown["mini-a"]["peers"]["cooling_s"] == 30.0
    # A's view ages out when A stops publishing (three intervals, at least a second).
    wall[0] += 1.5
    clock.advance(1.5)
    await b.sync.tick()
    assert b.router.health.get("mini-a").peers.processes == 0
    assert b.router.health.get("mini-a").ready_at(clock()) == clock()


async def test_the_news_wakes_the_task(topics: MemoryTopics) -> None:
    clock, wall = FakeClock(), [WALL]
    a, b = Process(topics, clock, wall, "a"), Process(topics, clock, wall, "b")
    a.sync.interval = 60.0  # only news makes it publish in this test
    await a.sync.start()
    try:
        await b.sync.tick()
        mini_b = a.router.catalog.resolve("mini-b")
        a.router.report(mini_b, UpstreamStatusError("no", status=429, retry_after=9), 1, None)
        for _ in range(200):
            await b.sync.tick()
            if b.router.health.get("mini-b").peers.until:
                break
            await asyncio.sleep(0.01)
        assert b.router.health.get("mini-b").peers.until == clock() + 9
    finally:
        await a.sync.close()


class DownTopics(MemoryTopics):
    down = False

    async def publish(
        self, topic: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> str:
        if self.down:
            raise StoreUnavailable("Redis at test unavailable")
        return await super().publish(topic, payload, headers)


async def test_with_the_store_down_routing_goes_local_and_comes_back() -> None:
    topics = DownTopics()
    clock, wall = FakeClock(), [WALL]
    a, b = Process(topics, clock, wall, "a"), Process(topics, clock, wall, "b")
    mini_a = a.router.catalog.resolve("mini-a")
    a.router.report(mini_a, UpstreamStatusError("slow down", status=429, retry_after=30), 1, None)
    await a.sync.tick()
    await b.sync.tick()
    assert b.router.health.get("mini-a").peers.until > clock()
    topics.down = True
    await b.sync.tick()
    assert b.health.status == "degraded" and "unavailable" in (b.health.reason or "")
    assert b.router.health.get("mini-a").peers.until == 0.0  # local only
    topics.down = False
    await a.sync.tick()
    await b.sync.tick()
    assert b.health.status == "ok"
    assert b.router.health.get("mini-a").peers.until > clock()
    await topics.close()


async def test_a_position_the_topic_does_not_have_starts_over(topics: MemoryTopics) -> None:
    clock, wall = FakeClock(), [WALL]
    a = Process(topics, clock, wall, "a")
    a.sync._after = "999999999"  # as after a server that lost its data
    await a.sync.tick()
    assert a.sync._after is None
    await a.sync.tick()
    assert a.sync._after is not None


def test_a_message_of_another_kind_is_ignored() -> None:
    sync = HealthSync(MemoryTopics(), lambda: router(), 0.25, instance="me", wall=lambda: WALL)
    for payload in (b"not json", b"{}", b'{"i": "x", "t": "now", "v": {}}'):
        sync._take(payload)
    sync._take(b'{"i": "me", "t": 1700000000.0, "v": {}}')  # its own
    assert sync.peers == {}
