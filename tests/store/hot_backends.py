"""What the hot-store contract suites share: building each backend (memory, SQLite in a temp
file, Redis under a per-test key prefix on the local server), and waiting helpers."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from plano.store.memory import MemoryCounters, MemoryKeyValue
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import Counters, KeyValue, Message, Topics
from plano.store.redis_hot import RedisCounters, RedisKeyValue
from plano.store.redis_topics import RedisTopics
from plano.store.sqlite_hot import SQLiteCounters, SQLiteKeyValue
from plano.store.sqlite_topics import SQLiteTopics

T = TypeVar("T")
BACKENDS = ["memory", "sqlite", "redis"]
REDIS_URL = "redis://127.0.0.1:6379/0"
MARKER = b"--marker--"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


REDIS_UP = _redis_answers()


def need(backend: str) -> None:
    if backend == "redis" and not REDIS_UP:
        pytest.skip("no Redis answers at 127.0.0.1:6379 (CI starts one)")


class Backends:
    """Builds stores of one backend for one test and closes (and, on Redis, deletes) them."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.path = tmp_path / "hot.db"
        self.prefix = f"plano-test:{uuid.uuid4().hex[:12]}:"
        #: A second prefix, also this test's own: test runs sharing the Redis run at once.
        self.other_prefix = f"plano-test-other:{uuid.uuid4().hex[:12]}:"
        self._open: list[Counters | KeyValue | Topics] = []

    def counters(self, prefix: str | None = None) -> Counters:
        p = self.prefix if prefix is None else prefix
        store: Counters
        if self.backend == "memory":
            store = MemoryCounters()
        elif self.backend == "sqlite":
            store = SQLiteCounters(self.path, prefix=p)
        else:
            store = RedisCounters(REDIS_URL, prefix=p)
        self._open.append(store)
        return store

    def kv(self, prefix: str | None = None) -> KeyValue:
        p = self.prefix if prefix is None else prefix
        store: KeyValue
        if self.backend == "memory":
            store = MemoryKeyValue()
        elif self.backend == "sqlite":
            store = SQLiteKeyValue(self.path, prefix=p)
        else:
            store = RedisKeyValue(REDIS_URL, prefix=p)
        self._open.append(store)
        return store

    def topics(self, visibility: float = 30.0, **options: Any) -> Topics:
        store: Topics
        if self.backend == "memory":
            store = MemoryTopics(visibility=visibility, **options)
        elif self.backend == "sqlite":
            store = SQLiteTopics(self.path, prefix=self.prefix, visibility=visibility, **options)
        else:
            store = RedisTopics(REDIS_URL, prefix=self.prefix, visibility=visibility, **options)
        self._open.append(store)
        return store

    async def close(self) -> None:
        for store in self._open:
            await store.close()
        if self.backend == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            try:
                for prefix in (self.prefix, self.other_prefix):
                    keys = list(client.scan_iter(match=prefix + "*", count=1000))
                    if keys:
                        client.delete(*keys)
            finally:
                client.close()


async def backends_for(backend: str, tmp_path: Path) -> AsyncGenerator[Backends, None]:
    need(backend)
    made = Backends(backend, tmp_path)
    try:
        yield made
    finally:
        await made.close()


async def eventually(
    check: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 5.0
) -> T:
    """Poll ``check`` until ``ok`` holds of its result (returned), or fail after ``within``."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {within}s")
        await asyncio.sleep(0.02)


async def started(
    topics: Topics, topic: str, group: str, consumer: str, block: float = 0.05
) -> AsyncGenerator[Message, None]:
    """A subscription whose group exists (a new group starts at the topic's end on its first
    poll): markers are published until one arrives. Later reads skip markers (``take``)."""
    it: Any = topics.subscribe(topic, group, consumer, block=block)
    first = asyncio.ensure_future(anext(it))
    deadline = time.monotonic() + 10
    while not first.done() and time.monotonic() < deadline:
        await topics.publish(topic, MARKER)
        await asyncio.wait([first], timeout=0.05)
    msg = await first
    await topics.ack(topic, group, [msg.id])
    gen: AsyncGenerator[Message, None] = it
    return gen


async def take(
    topics: Topics, it: AsyncIterator[Message], group: str, within: float = 5.0
) -> Message:
    """The next message that is not a marker (markers are acknowledged and skipped)."""
    while True:
        msg = await asyncio.wait_for(anext(it), within)
        if msg.payload != MARKER:
            return msg
        await topics.ack(msg.topic, group, [msg.id])
