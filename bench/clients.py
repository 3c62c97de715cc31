"""Small dedicated load clients for what wrk cannot measure, run in their own process.

* ``ttft``: closed-loop streaming requests; time to the first content token and to the end.
* ``load``: closed-loop non-stream requests (the fallback when wrk is not installed; a Python
  client on the same cores measures itself as much as the server, so the report says so).
* ``hold``: opens N concurrent streams, prints ``READY {...}`` once each has its first token,
  keeps them open until a line arrives on stdin, closes them all and prints ``DONE {...}``.

Raw HTTP/1.1 on asyncio streams (uvloop), keep-alive, ``Content-Length`` and chunked answers.
Output is one JSON object per line on stdout. The request body is ``--body`` or, for bodies
too large for a command line (one argument may not pass 128 KiB on Linux), ``--body-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Stats", "body_args", "main", "percentile", "request_bytes"]

_FIRST_TOKEN = re.compile(rb'"(?:content|text)":\s*"[^"]')


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def body_args(body: bytes, spill: Path, limit: int = 64 * 1024) -> list[str]:
    """The client's arguments for ``body``: inline when small, else written to ``spill``."""
    if len(body) <= limit:
        return ["--body", body.decode()]
    spill.parent.mkdir(parents=True, exist_ok=True)
    spill.write_bytes(body)
    return ["--body-file", str(spill)]


def request_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Stats:
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def summary(self, seconds: float) -> dict[str, float | int]:
        n = len(self.total_ms)
        return {
            "requests": n,
            "errors": self.errors,
            "duration_s": round(seconds, 3),
            "rps": round(n / seconds, 1) if seconds > 0 else 0.0,
            "ttft_p50_ms": round(percentile(self.ttft_ms, 50), 4),
            "ttft_p90_ms": round(percentile(self.ttft_ms, 90), 4),
            "ttft_p99_ms": round(percentile(self.ttft_ms, 99), 4),
            "p50_ms": round(percentile(self.total_ms, 50), 4),
            "p90_ms": round(percentile(self.total_ms, 90), 4),
            "p99_ms": round(percentile(self.total_ms, 99), 4),
            "mean_ms": round(statistics.fmean(self.total_ms), 4) if n else 0.0,
        }


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def call(
        self, req: bytes, on_first: asyncio.Event | None = None, stop: asyncio.Event | None = None
    ) -> tuple[int, float | None, float]:
        """(status, seconds to the first token or None, seconds to the end of the answer)."""
        reader, writer = await self.ensure()
        t0 = time.perf_counter()
        writer.write(req)
        buf = bytearray()
        while (end := buf.find(b"\r\n\r\n")) < 0:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed before the response head")
            buf += data
        head = bytes(buf[:end]).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        body = buf[end + 4 :]
        m = re.search(r"^content-length:\s*(\d+)", head, re.M)
        keep = "connection: close" not in head
        ttft: float | None = None
        if m is not None:
            length = int(m.group(1))
            while len(body) < length:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed mid-body")
                body += data
            total = time.perf_counter() - t0
            if _FIRST_TOKEN.search(body):
                ttft = total
        else:  # chunked (or read-to-close) stream
            scanned = 0
            while True:
                if ttft is None and _FIRST_TOKEN.search(body, max(scanned - 16, 0)):
                    ttft = time.perf_counter() - t0
                    if on_first is not None:
                        on_first.set()
                scanned = len(body)
                if body.endswith(b"0\r\n\r\n") and (
                    len(body) == 5 or body.endswith(b"\r\n0\r\n\r\n")
                ):
                    break
                if stop is not None and stop.is_set():
                    self.close()
                    return status, ttft, time.perf_counter() - t0
                data = await reader.read(65536)
                if not data:
                    keep = False
                    break
                body += data
            total = time.perf_counter() - t0
        if not keep:
            self.close()
        return status, ttft, total


async def _closed_loop(args: argparse.Namespace, req: bytes) -> dict[str, Any]:
    stats = Stats()
    start = time.perf_counter()
    measure_from = start + args.warmup
    deadline = measure_from + args.duration

    async def worker() -> None:
        conn = Conn(args.host, args.port)
        while time.perf_counter() < deadline:
            try:
                status, ttft, total = await conn.call(req)
            except (OSError, ConnectionError, ValueError, IndexError):
                stats.errors += 1
                conn.close()
                await asyncio.sleep(0.01)
                continue
            if time.perf_counter() < measure_from:
                continue
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status >= 400:
                stats.errors += 1
                continue
            stats.total_ms.append(total * 1000)
            if ttft is not None:
                stats.ttft_ms.append(ttft * 1000)
        conn.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    statuses = {str(k): v for k, v in sorted(stats.statuses.items())}
    return {**stats.summary(time.perf_counter() - measure_from), "statuses": statuses}


async def _hold(args: argparse.Namespace, req: bytes) -> None:
    firsts = 0
    failed = 0
    stop = asyncio.Event()
    gate = asyncio.Semaphore(100)  # connect in waves, not 1,000 SYNs at once
    all_first = asyncio.Event()
    t0 = time.perf_counter()

    async def one() -> None:
        nonlocal firsts, failed
        conn = Conn(args.host, args.port)
        first = asyncio.Event()
        try:
            async with gate:
                await conn.ensure()
            task = asyncio.ensure_future(conn.call(req, on_first=first, stop=stop))
            waiter = asyncio.ensure_future(first.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if first.is_set():
                firsts += 1
                if firsts == args.n:
                    all_first.set()
            waiter.cancel()
            await task
        except (OSError, ConnectionError, ValueError, IndexError):
            failed += 1
        finally:
            conn.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(args.n)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_first.wait(), args.ready_timeout)
    ready = {"open": firsts, "failed": failed, "seconds": round(time.perf_counter() - t0, 3)}
    print("READY " + json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print("DONE " + json.dumps({"open": firsts, "failed": failed}), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    p.add_argument("mode", choices=["ttft", "load", "hold"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/chat/completions")
    body = p.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="JSON request body")
    body.add_argument("--body-file", type=Path, help="file holding the JSON request body")
    p.add_argument("--header", action="append", default=[], help="name:value")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--n", type=int, default=1000, help="streams to hold open")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    raw = args.body_file.read_bytes() if args.body_file else args.body.encode()
    req = request_bytes(args.host, args.port, args.path, raw, headers)
    try:
        import uvloop

        uvloop.install()  # deprecated spelling kept for uvloop < 0.18 compatibility
    except ImportError:  # pragma: no cover
        pass
    if args.mode == "hold":
        asyncio.run(_hold(args, req))
    else:
        print(json.dumps(asyncio.run(_closed_loop(args, req))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
