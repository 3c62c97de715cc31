"""tools/lb.py: round robin over the live backends, a refusing one skipped (the connection
goes to the next, nothing is refused to the client), and taken back once it answers."""

from __future__ import annotations

import asyncio
import socket

from tools.lb import Backend, RoundRobin


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _backend(name: bytes) -> tuple[asyncio.Server, int]:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(100)
        w.write(name)
        await w.drain()
        w.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def _ask(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"hi")
    await w.drain()
    data = await r.read(100)
    w.close()
    return data


async def test_round_robin_skips_a_dead_backend_and_takes_it_back() -> None:
    one, p1 = await _backend(b"one")
    two, p2 = await _backend(b"two")
    dead = _dead_port()
    lb = RoundRobin(
        [Backend("127.0.0.1", p1), Backend("127.0.0.1", dead), Backend("127.0.0.1", p2)]
    )
    front = await asyncio.start_server(lb.handle, "127.0.0.1", 0)
    port = int(front.sockets[0].getsockname()[1])
    try:
        got = [await _ask(port) for _ in range(6)]
        # Every connection answered; the live two share them evenly.
        assert sorted(got) == [b"one"] * 3 + [b"two"] * 3
        stats = lb.stats()["backends"]
        assert isinstance(stats, list)
        assert [b["connections"] for b in stats] == [3, 0, 3]
        assert stats[1]["refused"] == 1 and stats[1]["skipped"] is True  # tried once, then skipped
        assert lb.unserved == 0

        # The dead one comes up: once its skip ends, it gets its turn again.
        three = await asyncio.start_server(_answer_three, "127.0.0.1", dead)
        lb.backends[1].dead_until = 0.0
        got = [await _ask(port) for _ in range(3)]
        assert sorted(got) == [b"one", b"three", b"two"]
        three.close()
    finally:
        front.close()
        one.close()
        two.close()


async def _answer_three(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await r.read(100)
    w.write(b"three")
    await w.drain()
    w.close()


async def test_no_live_backend_closes_the_client_connection() -> None:
    lb = RoundRobin([Backend("127.0.0.1", _dead_port())])
    front = await asyncio.start_server(lb.handle, "127.0.0.1", 0)
    try:
        assert await _ask(int(front.sockets[0].getsockname()[1])) == b""
        assert lb.unserved == 1
    finally:
        front.close()
