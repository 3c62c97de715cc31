"""``python -m bench.store_micro``: the cost of one hot-store operation on each backend.

For memory, SQLite (a temp file, WAL) and Redis (``--redis``, default the local server; skipped
when it does not answer), it times, one after another on one event loop (latency, µs per op,
median of ``--rounds`` rounds of ``--n`` ops):

* ``reserve+settle``: one budget reservation over two keys (key + org) and its settle;
* ``window``: one sliding-window admission;
* ``kv.set`` / ``kv.get``: a 64-byte value with a TTL;
* ``publish``: a 256-byte message;
* ``floor``: what every operation pays before its own work (SQLite: the hop to the store's
  thread and back; Redis: one ``PING`` through the client);

then ``reserve+settle`` with 64 concurrent tasks (pairs/s through one store), and with two
processes on one store (pairs/s summed: the ``workers: 2`` case). Prints a table, and the
figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = ["main"]

Op = Callable[[int], Awaitable[object]]


def _stores(backend: str, where: str, prefix: str) -> tuple[Any, Any, Any]:
    from plano.store.factory import open_counters, open_key_value, open_topics

    url = {"memory": None, "sqlite": f"sqlite://{where}"}.get(backend, where)
    return (
        open_counters(url, prefix=prefix),
        open_key_value(url, prefix=prefix),
        open_topics(url, prefix=prefix),
    )


async def _time(op: Op, n: int, rounds: int) -> float:
    """Median µs per op over ``rounds`` rounds of ``n`` sequential ops (after a warm-up)."""
    for i in range(min(n, 200)):
        await op(i)
    per_op = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            await op(i)
        per_op.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(per_op)


async def _pairs_concurrent(counters: Any, n: int, tasks: int) -> float:
    async def worker(w: int) -> None:
        for _ in range(n // tasks):
            res = await counters.reserve({f"c{w}": 1, "org": 1}, {"org": 1e12})
            await counters.settle(res, {f"c{w}": 1, "org": 1})

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return (n // tasks) * tasks / (time.perf_counter() - started)


def _floor(backend: str, kv: Any) -> Op:
    """The bare cost under every operation: SQLite's hop to the store's thread and back (no
    statement); Redis's round trip through the client (``PING``)."""
    if backend == "sqlite":
        return lambda i: kv._db.run(lambda conn: None, write=False)
    return lambda i: kv._link.call(lambda r: r.ping())


async def _one_backend(backend: str, where: str, n: int, rounds: int) -> dict[str, float]:
    counters, kv, topics = _stores(backend, where, f"bench:{uuid.uuid4().hex[:8]}:")
    payload, value = b"x" * 256, b"v" * 64

    async def pair(i: int) -> None:
        res = await counters.reserve({"key:a": 0.01, "org:a": 0.01}, {"org:a": 1e12})
        await counters.settle(res, {"key:a": 0.009, "org:a": 0.009})

    ops: dict[str, Op] = {"floor": _floor(backend, kv)} if backend != "memory" else {}
    ops |= {
        "reserve+settle": pair,
        "window": lambda i: counters.window("rpm:a", 1, 1e12, 60),
        "kv.set": lambda i: kv.set(f"pin:{i % 1000}", value, ttl=300),
        "kv.get": lambda i: kv.get(f"pin:{i % 1000}"),
        "publish": lambda i: topics.publish("events", payload),
    }
    out = {name: round(await _time(op, n, rounds), 1) for name, op in ops.items()}
    out["reserve+settle x64 tasks (pairs/s)"] = round(await _pairs_concurrent(counters, n, 64))
    for store in (counters, kv, topics):
        await store.close()
    return out


_CHILD = """
import asyncio, sys, time
from bench.store_micro import _stores
async def main(backend, where, prefix, n):
    counters, kv, topics = _stores(backend, where, prefix)
    await counters.get("warm")
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for i in range(n):
        res = await counters.reserve({"key:a": 0.01, "org:a": 0.01}, {"org:a": 1e12})
        await counters.settle(res, {"key:a": 0.009, "org:a": 0.009})
    print(n / (time.perf_counter() - started), flush=True)
    for s in (counters, kv, topics):
        await s.close()
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def _two_processes(backend: str, where: str, n: int) -> float:
    """Pairs/s summed over two processes sharing one store, started together."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    args = [sys.executable, "-c", _CHILD, backend, where, prefix, str(n)]
    procs = [
        subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    rates = [float(p.communicate(timeout=300)[0].strip()) for p in procs]
    return round(sum(rates))


def _redis_answers(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="ops per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--backends", default="memory,sqlite,redis")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = {"memory": "", "sqlite": str(Path(tmp) / "hot.db"), "redis": args.redis}
        for backend in args.backends.split(","):
            if backend == "redis" and not _redis_answers(args.redis):
                results[backend] = {"skipped": f"no Redis at {args.redis}"}
                continue
            figures = asyncio.run(_one_backend(backend, where[backend], args.n, args.rounds))
            if backend != "memory":
                figures["reserve+settle x2 processes (pairs/s)"] = _two_processes(
                    backend, where[backend], args.n * 2
                )
            results[backend] = figures
    names = sorted({k for r in results.values() for k in r if k != "skipped"}, key=str)
    print(f"{'µs per op (median)':<38}" + "".join(f"{b:>12}" for b in results))
    for name in names:
        cells = "".join(f"{results[b].get(name, '-')!s:>12}" for b in results)
        print(f"{name:<38}{cells}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
