"""A small TCP round-robin load balancer for loopback tests and demos (not shipped).

Each accepted connection goes to the next backend in turn; a backend that refuses a connection
is skipped for ``--dead-for`` seconds (the connection tries the next one, so a killed replica
costs a client nothing it had not sent yet). Bytes are relayed both ways unchanged: HTTP
keep-alive connections stay on one backend, as behind any layer-4 balancer.

    python tools/lb.py --listen 127.0.0.1:8080 --backend 127.0.0.1:12001 \
        --backend 127.0.0.1:12002 --stats-port 8081

``--stats-port`` answers any request with the counters as JSON (per backend: connections
relayed, open now, refused connects, whether it is skipped). ``--ready-file`` gets
``host:port stats_port`` once both are listening. Backend changes are printed one line each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CONNECT_TIMEOUT = 2.0
CHUNK = 65536


@dataclass
class Backend:
    host: str
    port: int
    connections: int = 0
    open: int = 0
    refused: int = 0
    dead_until: float = 0.0

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def stats(self, now: float) -> dict[str, object]:
        return {
            "addr": self.addr,
            "connections": self.connections,
            "open": self.open,
            "refused": self.refused,
            "skipped": self.dead_until > now,
        }


class RoundRobin:
    def __init__(self, backends: list[Backend], dead_for: float = 1.0) -> None:
        self.backends = backends
        self.dead_for = dead_for
        self.next = 0
        self.unserved = 0  # client connections no backend would take

    def order(self, now: float) -> list[Backend]:
        """Every backend once: the next live one in turn first (the turn moves past it, so
        the live ones share the load evenly), then the other live ones, skipped ones last
        (all may be skipped: trying them beats refusing the client)."""
        n = len(self.backends)
        turn = [self.backends[(self.next + i) % n] for i in range(n)]
        live = [b for b in turn if b.dead_until <= now]
        if live:
            self.next = (self.backends.index(live[0]) + 1) % n
        return live + [b for b in turn if b.dead_until > now]

    async def connect(self) -> tuple[Backend, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for b in self.order(time.monotonic()):
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(b.host, b.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                b.refused += 1
                if b.dead_until <= time.monotonic():
                    print(f"lb: backend {b.addr} refused; skipped for {self.dead_for}s", flush=True)
                b.dead_until = time.monotonic() + self.dead_for
                continue
            if b.dead_until:
                print(f"lb: backend {b.addr} is back", flush=True)
                b.dead_until = 0.0
            return b, r, w
        return None

    async def handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        picked = await self.connect()
        if picked is None:
            self.unserved += 1
            cw.close()
            return
        b, br, bw = picked
        b.connections += 1
        b.open += 1
        try:
            up = asyncio.ensure_future(_pipe(cr, bw))
            down = asyncio.ensure_future(_pipe(br, cw))
            # Either side ending ends the exchange (HTTP clients do not half-close).
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
            for t in (up, down):
                t.cancel()
        finally:
            b.open -= 1
            for w in (bw, cw):
                w.close()

    def stats(self) -> dict[str, object]:
        now = time.monotonic()
        return {"backends": [b.stats(now) for b in self.backends], "unserved": self.unserved}


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await r.read(CHUNK):
            w.write(data)
            await w.drain()


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(args: argparse.Namespace) -> None:
    lb = RoundRobin([Backend(*_addr(b)) for b in args.backend], args.dead_for)
    host, port = _addr(args.listen)
    server = await asyncio.start_server(lb.handle, host, port, backlog=1024)

    async def stats(_: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        body = json.dumps(lb.stats()).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
        w.write(head.encode() + b"\r\nconnection: close\r\n\r\n" + body)
        with contextlib.suppress(OSError):
            await w.drain()
        w.close()

    stats_server = await asyncio.start_server(stats, host, args.stats_port)
    bound = server.sockets[0].getsockname()[1]
    stats_port = stats_server.sockets[0].getsockname()[1]
    print(f"lb: {host}:{bound} -> {', '.join(b.addr for b in lb.backends)}", flush=True)
    if args.ready_file:
        await asyncio.to_thread(Path(args.ready_file).write_text, f"{host}:{bound} {stats_port}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    stats_server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any free one)")
    p.add_argument("--backend", action="append", required=True, help="host:port, repeated")
    p.add_argument("--stats-port", type=int, default=0)
    p.add_argument(
        "--dead-for", type=float, default=1.0, help="seconds a refusing backend is skipped"
    )
    p.add_argument("--ready-file")
    asyncio.run(serve(p.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
