"""PostgreSQL unavailable: a closed port, a server that never answers, a server that goes away
and comes back (through a local TCP relay we can cut), statement timeouts and sslmode.
Every failure is a fast StoreUnavailable, never a hang."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from urllib.parse import urlsplit

import asyncpg
import pytest
from tests.store import test_migrations
from tests.store.test_migrations import PG_URL
from tests.store.test_usage import record

from plano.store.db import PostgresDatabase
from plano.store.protocols import StoreUnavailable, UsageQuery
from plano.store.usage import PostgresUsageLog

pg_url = test_migrations.pg_url  # the fixture: a fresh schema per test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}", 1)


class Relay:
    """A TCP relay to the real server that can be cut (every connection dropped, the port
    closed) and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()


async def test_a_closed_port_fails_fast_and_then_faster(pg_url: str) -> None:
    db = PostgresDatabase(with_port(pg_url, free_port()), min_backoff=30)
    log = PostgresUsageLog(db)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot connect"):
        await log.append([record(1)])
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="next try in"):
        await log.totals(UsageQuery())
    assert time.monotonic() - started < 0.05  # no connection attempt while backing off
    assert not db.available
    await log.close()


async def test_a_server_that_never_answers_times_out(pg_url: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, then say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = PostgresDatabase(with_port(pg_url, port), connect_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await db.open()
    assert time.monotonic() - started < 2.0
    await db.close()
    server.close()


async def test_the_pool_reconnects_with_backoff_when_the_server_returns(pg_url: str) -> None:
    parts = urlsplit(PG_URL)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    await relay.start()
    db = PostgresDatabase(with_port(pg_url, relay.port), min_backoff=0.05, max_backoff=0.2)
    log = PostgresUsageLog(db)
    await log.append([record(1)])

    await relay.cut()
    with pytest.raises(StoreUnavailable):
        await log.append([record(2)])
    assert not db.available
    for _ in range(20):  # still down: every call fails, quickly
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await log.find("req-000001")
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.01)

    await relay.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            await log.append([record(3)])
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "did not reconnect"
            await asyncio.sleep(0.05)
    assert db.available
    (totals,) = await log.totals(UsageQuery())
    assert totals["requests"] == 2  # 1 and 3; 2 failed loudly, it was not half-written
    await log.close()
    await relay.cut()


async def test_a_statement_timeout_is_unavailable_but_not_down(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, statement_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="timed out"):
        async with db.connection() as conn:
            await conn.execute("SELECT pg_sleep(3)")
    assert time.monotonic() - started < 1.5
    assert db.available
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    await db.close()


async def test_sslmode_is_honoured(pg_url: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    ssl_on = await conn.fetchval("SHOW ssl") == "on"
    await conn.close()
    for mode in ("disable", "prefer"):
        db = PostgresDatabase(f"{pg_url}&sslmode={mode}")
        await db.open()
        await db.close()
    if ssl_on:
        pytest.skip("this server speaks TLS: sslmode=require would succeed")
    db = PostgresDatabase(f"{pg_url}&sslmode=require")
    with pytest.raises(StoreUnavailable):
        await db.open()
    await db.close()


async def test_a_closed_database_says_so(pg_url: str) -> None:
    db = PostgresDatabase(pg_url)
    await db.open()
    await db.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await db.open()


def test_only_postgres_urls_are_accepted() -> None:
    with pytest.raises(ValueError):
        PostgresDatabase("mysql://h/db")
