"""``python -m bench.signals_ab``: what agentic signals cost the gateway end to end.

Two ``plano up`` processes against one simulated upstream, identical but for
``overrides.disable_signals``; batches of requests (a 6-message conversation whose last user
message changes every request, so each one has something new to analyse) alternate between
them; throughput and p50/p99 latency of each, best and median over ``--rounds``. Prints a
table and the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from plano.sim import SimOptions, SimServer

__all__ = ["main"]

KEY = "sk-bench-signals-0123456789"
CONVO = [
    {"role": "user", "content": "Where is my refund for order 1182?"},
    {"role": "assistant", "content": "Could you share the email on the order?"},
    {"role": "user", "content": "I already told you, it's the one on my account."},
    {"role": "assistant", "content": "Could you share the email on the order?"},
    {"role": "user", "content": "this is a waste of time"},
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(sim: SimServer, home: Path, disable: bool) -> tuple[subprocess.Popen[bytes], str]:
    config: dict[str, Any] = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": KEY, "base_url": sim.url, "default": True}
        ],
        "overrides": {"disable_signals": disable},
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    port, ready = _port(), home / "ready"
    cmd = [sys.executable, "-m", "plano", "up", str(home / "config.yaml"), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--ready-file", str(ready)]
    log = (home / "plano.log").open("wb")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, cwd=home, env=dict(os.environ)
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((home / "plano.log").read_text())
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


async def _batch(url: str, n: int, concurrency: int, start: int) -> tuple[float, list[float]]:
    lat: list[float] = []
    todo = iter(range(start, start + n))
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            for i in todo:
                body = {
                    "model": "openai/gpt-4o-mini",
                    "messages": [
                        *CONVO,
                        {"role": "user", "content": f"ticket {i}: still nothing??"},
                    ],
                }
                t0 = time.perf_counter()
                async with http.post(url, json=body) as r:
                    await r.read()
                    assert r.status == 200, r.status
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0), lat


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    rps: dict[str, list[float]] = {"on": [], "off": []}
    lat: dict[str, list[float]] = {"on": [], "off": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimServer.in_thread(SimOptions(tokens_per_second=0)) as sim,
    ):
        procs = {name: _start(sim, Path(tmp) / name, name == "off") for name in ("on", "off")}
        try:
            seq = 0
            for r in range(args.rounds + 1):  # the first round warms up
                for name in ("on", "off") if r % 2 else ("off", "on"):
                    got, ls = asyncio.run(_batch(procs[name][1], args.n, args.concurrency, seq))
                    seq += args.n
                    if r:
                        rps[name].append(got)
                        lat[name] += ls
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait(15)
    out: dict[str, Any] = {}
    print(f"{'signals':8} {'req/s best':>11} {'req/s median':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("off", "on"):
        row = {
            "rps_best": round(max(rps[name]), 1),
            "rps_median": round(statistics.median(rps[name]), 1),
            "p50_ms": round(_pct(lat[name], 0.5), 2),
            "p99_ms": round(_pct(lat[name], 0.99), 2),
        }
        out[name] = row
        cells = f"{row['rps_best']:>11} {row['rps_median']:>13}"
        print(f"{name:8} {cells} {row['p50_ms']:>8} {row['p99_ms']:>8}")
    out["cost_pct_median"] = round(
        100 * (1 - out["on"]["rps_median"] / out["off"]["rps_median"]), 1
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
