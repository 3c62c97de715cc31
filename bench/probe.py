"""A health-check prober, run in its own process: ``GET /healthz`` on a fixed schedule (every
10 ms by default) over one keep-alive connection, for a number of seconds, and one JSON line
of latencies on stdout.

Latency is counted from the time a probe was *due*. When a probe is answered late, the probes
that fell due while it was outstanding are not sent (the next one goes out at the next slot);
each is counted as if it had been answered at the same moment, having waited from its own due
time. So a 300 ms stall counts as 30 probes waiting 300, 290, ... 10 ms, not as one slow
sample among hundreds of fast ones (coordinated omission; wrk corrects for it in the same
way). ``service_*`` is the time from sending to the answer of the probes actually sent.

Run: ``python -m bench.probe --port 19100 [--interval-ms 10] [--duration 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Sequence

from bench.clients import percentile

__all__ = ["main", "probe", "summarise"]

_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.I | re.M)


def summarise(
    due_ms: Sequence[float], service_ms: Sequence[float], errors: int, seconds: float
) -> dict[str, float | int]:
    """The probe's figures: latencies from the due time (p50, p99, max), from sending (p99,
    max), how many probes (due, and sent) there were and took over 50 ms, and errors."""
    due, service = list(due_ms), list(service_ms)
    return {
        "probes": len(due),
        "sent": len(service),
        "errors": errors,
        "duration_s": round(seconds, 3),
        "p50_ms": round(percentile(due, 50), 3),
        "p90_ms": round(percentile(due, 90), 3),
        "p99_ms": round(percentile(due, 99), 3),
        "max_ms": round(max(due, default=0.0), 3),
        "over_50ms": sum(1 for x in due if x > 50.0),
        "service_p99_ms": round(percentile(service, 99), 3),
        "service_max_ms": round(max(service, default=0.0), 3),
    }


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes
) -> tuple[int, bool]:
    """Send one request and read its whole answer: (status, keep-alive)."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = _LENGTH.search(head)
    if m is None:
        raise ConnectionError("healthz answer without content-length")
    await reader.readexactly(int(m.group(1)))
    return status, b"connection: close" not in head.lower()


async def probe(
    host: str, port: int, path: str, interval_s: float, duration_s: float, timeout_s: float
) -> dict[str, float | int]:
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    due_ms: list[float] = []
    service_ms: list[float] = []
    errors = 0
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    start = time.perf_counter()
    end = start + duration_s
    slot = 0
    while (due := start + slot * interval_s) < end:
        slot += 1
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        sent = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            status, keep = await asyncio.wait_for(_get(*conn, req), timeout_s)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            errors += 1
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        done = time.perf_counter()
        if status != 200:
            errors += 1
        due_ms.append((done - due) * 1000)
        service_ms.append((done - sent) * 1000)
        # The probes that fell due meanwhile: each would have been answered about now.
        while (missed := start + slot * interval_s) < min(done, end):
            due_ms.append((done - missed) * 1000)
            slot += 1
        if not keep:
            conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()
    return summarise(due_ms, service_ms, errors, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/healthz")
    p.add_argument("--interval-ms", type=float, default=10.0)
    p.add_argument("--duration", type=float, default=4.0, help="seconds")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per probe")
    a = p.parse_args(argv)
    import uvloop

    result = uvloop.run(probe(a.host, a.port, a.path, a.interval_ms / 1000, a.duration, a.timeout))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
