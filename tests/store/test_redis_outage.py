"""Redis going away and coming back, on a redis-server of the test's own (never the machine's
shared one): calls fail fast with StoreUnavailable while it is down and work again after it
restarts, with the same store objects."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from tests.store.hot_backends import eventually

from plano.store.protocols import StoreUnavailable
from plano.store.redis_hot import RedisCounters, RedisKeyValue
from plano.store.redis_topics import RedisTopics

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


class OwnRedis:
    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_outage_fails_fast_then_recovers_without_rebuilding(own_redis: OwnRedis) -> None:
    counters = RedisCounters(own_redis.url, prefix="p:")
    kv = RedisKeyValue(own_redis.url, prefix="p:")
    topics = RedisTopics(own_redis.url, prefix="p:")
    try:
        assert await counters.add("k", 1) == 1.0
        await kv.set("a", b"1")
        await topics.publish("t", b"x")
        sub = topics.subscribe("t", "g", "c", block=5.0)
        reading = asyncio.ensure_future(anext(sub))
        await asyncio.sleep(0.1)  # let it block in XREADGROUP
        own_redis.kill()
        with pytest.raises(StoreUnavailable):  # the subscription says so, at once
            await asyncio.wait_for(reading, 2.0)
        for _ in range(5):  # down: refused connections, then the gate: each call is quick
            for call in (counters.add("k", 1), kv.get("a"), topics.publish("t", b"y")):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await call
                assert time.monotonic() - started < 0.5
        own_redis.start()  # empty: it kept nothing (--save "")

        async def add() -> float | None:
            try:
                return await counters.add("k", 1)
            except StoreUnavailable:
                return None

        assert await eventually(add, lambda v: v is not None, within=10) == 1.0
        await eventually(lambda: _try(kv.set("a", b"2")), lambda ok: ok, within=10)
        assert await kv.get("a") == b"2"
        await eventually(lambda: _try(topics.publish("t", b"z")), lambda ok: ok, within=10)
    finally:
        for store in (counters, kv, topics):
            await store.close()


async def test_a_server_that_never_answers_costs_a_timeout_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        kv = RedisKeyValue(url, socket_timeout=0.2)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await kv.get("a")
            assert time.monotonic() - started < 1.5
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await kv.get("a")  # the gate is closed: no network at all
            assert time.monotonic() - started < 0.05
        finally:
            await kv.close()


async def _try(call: Awaitable[object]) -> bool:
    try:
        await call
    except StoreUnavailable:
        return False
    return True
