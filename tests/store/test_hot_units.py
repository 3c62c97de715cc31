"""The pieces under the contract suites: the window arithmetic (with a clock of the test's
own), the memory stores' caps, and the factory's choice of backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.store.hot_backends import started, take

from plano.errors import ConfigError
from plano.store.common import WindowState, fits, parse_seq_id, window_decide
from plano.store.factory import backend_of, open_counters, open_key_value, open_topics
from plano.store.memory import MemoryCounters, MemoryKeyValue
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import Counters, KeyValue, StoreUnavailable, Topics
from plano.store.redis_hot import RedisCounters, RedisKeyValue
from plano.store.redis_topics import RedisTopics
from plano.store.sqlite_hot import SQLiteCounters, SQLiteKeyValue
from plano.store.sqlite_topics import SQLiteTopics


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_window_weights_the_previous_bucket_by_what_is_left_of_it() -> None:
    # Bucket 100 (window 10 s) admitted 8; at 25% into bucket 101: 8 * 0.75 = 6 counted.
    state = WindowState(100, 8.0, 0.0)
    new, d = window_decide(state, 1012.5, 4, 10, 10)
    assert d.allowed and d.count == pytest.approx(10) and d.remaining == pytest.approx(0)
    assert new == WindowState(101, 4.0, 8.0)
    _, d = window_decide(new, 1012.5, 1, 10, 10)
    assert not d.allowed and d.count == pytest.approx(10)
    # 1 more fits once 8 * (1 - f) + 4 + 1 <= 10: f = 3/8, i.e. 1.25 s from now.
    assert d.retry_after == pytest.approx(1.25, abs=0.002)
    _, later = window_decide(new, 1012.5 + d.retry_after, 1, 10, 10)
    assert later.allowed


def test_window_retry_after_crosses_into_the_next_bucket_when_needed() -> None:
    state = WindowState(100, 10.0, 0.0)  # the current bucket alone is full
    _, d = window_decide(state, 1004.0, 5, 10, 10)
    # Next bucket at +6 s; then 10 * (1 - g) + 5 <= 10 at g = 0.5: +5 s more.
    assert not d.allowed and d.retry_after == pytest.approx(11.0, abs=0.002)
    _, later = window_decide(state, 1004.0 + d.retry_after, 5, 10, 10)
    assert later.allowed
    _, stale = window_decide(state, 1030.0, 10, 10, 10)  # two buckets on: forgotten
    assert stale.allowed and stale.count == 10


def test_fits_tolerates_float_sums_only() -> None:
    assert fits(0.1, 0.2, 0.0, 0.3)
    assert not fits(0.1, 0.2, 1e-6, 0.3)
    assert fits(0, 0, 5, 5) and not fits(0, 0, 5.001, 5)


def test_message_ids_of_the_embedded_backends() -> None:
    assert parse_seq_id("42") == 42
    for bad in ("", "-1", "1-0", "x"):
        with pytest.raises(ValueError):
            parse_seq_id(bad)


async def test_memory_counters_caps() -> None:
    clock = Clock()
    counters = MemoryCounters(max_keys=2, max_reservations=2, clock=clock)
    await counters.add("old", 1, ttl=5)
    await counters.add("b", 1)
    clock.now += 10  # "old" expired: it goes first
    await counters.add("c", 1)
    assert await counters.get("b") == (1.0, 0.0)
    await counters.add("d", 1)  # full of live keys: the least recently written goes
    assert await counters.get("b") == (0.0, 0.0)
    assert await counters.get("c") == (1.0, 0.0)
    assert await counters.reserve({"x": 1}, {}) is not None
    assert await counters.reserve({"x": 1}, {}, ttl=1) is not None
    with pytest.raises(StoreUnavailable):
        await counters.reserve({"x": 1}, {})
    clock.now += 2  # the short one expired: room again
    assert await counters.reserve({"x": 1}, {}) is not None


async def test_memory_kv_cap_evicts_expired_then_least_recent() -> None:
    clock = Clock()
    kv = MemoryKeyValue(max_keys=2, clock=clock)
    await kv.set("a", b"1", ttl=1)
    await kv.set("b", b"2")
    clock.now += 2
    await kv.set("c", b"3")  # "a" expired: evicted, "b" kept
    assert await kv.get("b") == b"2"  # read: now more recent than "c"
    await kv.set("d", b"4")
    assert await kv.get_many(["b", "c", "d"]) == {"b": b"2", "d": b"4"}


async def test_memory_topics_keep_the_last_messages() -> None:
    topics = MemoryTopics(max_messages=3)
    for i in range(5):
        await topics.publish("t", str(i).encode())
    assert [m.payload async for m in topics.replay("t")] == [b"2", b"3", b"4"]


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        (None, "memory"),
        ("memory://", "memory"),
        ("sqlite:///var/plano/hot.db", "sqlite"),
        (".plano/hot.db", "sqlite"),
        ("redis://localhost:6379/0", "redis"),
        ("rediss://user:pw@cache.example:6380/1?ssl_cert_reqs=none", "redis"),
    ],
)
def test_backend_by_scheme(url: str | None, backend: str) -> None:
    assert backend_of(url) == backend


@pytest.mark.parametrize("url", ["postgres://x/y", "sqlite://", "http://redis"])
def test_unknown_or_incomplete_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        backend_of(url)


async def test_factories_build_each_backend(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/hot.db"
    made: list[tuple[Counters | KeyValue | Topics, type]] = [
        (open_counters(None, prefix="p:"), MemoryCounters),
        (open_key_value("memory://", prefix=""), MemoryKeyValue),
        (open_topics(None, prefix="", visibility=5), MemoryTopics),
        (open_counters(db, prefix="p:"), SQLiteCounters),
        (open_key_value(db, prefix="p:"), SQLiteKeyValue),
        (open_topics(db, prefix="p:"), SQLiteTopics),
        (open_counters("redis://127.0.0.1:1/0", prefix="p:"), RedisCounters),
        (open_key_value("rediss://127.0.0.1:1/0", prefix="p:"), RedisKeyValue),
        (open_topics("redis://127.0.0.1:1/0", prefix="p:", visibility=5), RedisTopics),
    ]
    for store, kind in made:
        assert isinstance(store, kind)
        await store.close()
    kv = open_key_value(db, prefix="p:")
    await kv.set("k", b"v")
    assert (tmp_path / "hot.db").exists() and await kv.get("k") == b"v"
    await kv.close()


async def test_sqlite_topics_trim_the_oldest_and_forget_their_pending(tmp_path: Path) -> None:
    topics = SQLiteTopics(tmp_path / "hot.db", max_messages=10, visibility=0.05)
    try:
        sub = await started(topics, "t", "g", "c")
        await topics.publish("t", b"held")
        assert (await take(topics, sub, "g")).payload == b"held"  # never acknowledged
        for i in range(30):
            await topics.publish("t", str(i).encode())
        kept = [m.payload async for m in topics.replay("t")]
        assert 10 <= len(kept) <= 11 and kept[-1] == b"29"
        # "held" was trimmed away while pending: it is not delivered again.
        after = await take(topics, sub, "g")
        assert (after.payload, after.deliveries) == (kept[0], 1)
        await sub.aclose()
    finally:
        await topics.close()
