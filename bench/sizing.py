"""``python -m bench.sizing``: the figures ``docs/sizing.md`` sizes a deployment with, where the
other benchmarks do not already give them.

In one run of about two minutes, with ``state: {redis, postgres}`` on (a redis-server of this
run's own, so ``INFO commandstats`` counts this gateway's commands only, and a database of its
own on the local PostgreSQL, so ``pg_stat_database`` does too):

* req/s of one worker pinned to core 0 (bare config, and with a global rate limit and budget),
  alternating round by round with the floor (``bench/floor.py``) on the same core: the ratio to
  the floor is the figure that survives a busy machine;
* that worker's RSS idle, and after the rounds (every request of them served);
* Redis commands and PostgreSQL transactions and inserted rows per request, one more run per
  gateway between two readings of the servers' counters;
* RSS and CPU of a fresh worker holding 1,000 and then 5,000 open streams (slow upstream,
  5 tokens/s): the slope between the two is the cost of one more open stream.

The result goes to ``docs/benchmarks/sizing.json``; :func:`plan` turns it into the worked table
of ``docs/sizing.md`` (pure, tested).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.install import log
from bench.procs import (
    Proc,
    cpu_seconds,
    free_port,
    machine_busy_seconds,
    raise_nofile,
    rss_mb,
    wait_http,
)
from bench.scenarios import bare_config, request_body
from bench.state import PG_ADMIN, _pg_admin, _pg_counts, _redis_calls
from bench.wrk import lua_script, run_wrk

__all__ = ["LOADS", "Load", "figures", "main", "plan", "table"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "sizing"
OUT = ROOT / "docs" / "benchmarks" / "sizing.json"
GW_CPU = "0"
LOAD_CPU = "1"

LIMITS_YAML = """rate_limits:
  - name: sizing-global
    scope: global
    requests: 1000000000
    per: minute
budgets:
  - name: sizing-global
    scope: global
    period: total
    tokens: 1000000000000
    unpriced: free
"""


# ---------------------------------------------------------------- pure: the worked table


@dataclass(frozen=True, slots=True)
class Load:
    """What a deployment must carry: requests/s and open streams at once."""

    rps: float = 0.0
    streams: int = 0


def plan(
    load: Load,
    fig: dict[str, float],
    *,
    utilisation: float = 0.6,
    workers_per_replica: int = 2,
) -> dict[str, Any]:
    """Workers, replicas and memory for ``load`` from measured per-worker figures.

    ``fig`` keys: ``rps_per_worker`` (one worker on one core), ``rss_loaded_mb`` (a worker after
    serving traffic), ``kb_per_stream``, ``stream_cpu_cores`` (cores one open stream keeps busy),
    ``redis_per_req``, ``pg_xact_per_req`` and ``pg_rows_per_req``. Workers run at most at
    ``utilisation`` of their core (headroom for bursts and a lost replica); a worker is one core.
    """
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation must be in (0, 1]")
    cores = load.rps / (fig["rps_per_worker"] * utilisation)
    cores += load.streams * fig["stream_cpu_cores"] / utilisation
    workers = max(1, math.ceil(cores - 1e-9))
    replicas = max(1, math.ceil(workers / workers_per_replica))
    workers = replicas * workers_per_replica
    memory = workers * fig["rss_loaded_mb"] + load.streams * fig["kb_per_stream"] / 1024
    return {
        "rps": load.rps,
        "streams": load.streams,
        "cores_busy": round(cores * utilisation, 2),
        "workers": workers,
        "replicas": replicas,
        "memory_mb": round(memory),
        "memory_per_replica_mb": round(memory / replicas),
        "redis_cmds_per_s": round(load.rps * fig["redis_per_req"]),
        "pg_xacts_per_s": round(load.rps * fig["pg_xact_per_req"], 1),
        "pg_rows_per_s": round(load.rps * fig["pg_rows_per_req"]),
    }


#: The Redis commands the gateway sends; ``INFO commandstats`` also counts those its Lua
#: scripts run inside one ``EVALSHA`` (HINCRBYFLOAT, HMGET, TIME...: store/redis_lua.py).
SENT = ("evalsha", "xadd", "xrange", "info", "get", "mget", "del")

#: The worked table's loads: requests/s of small chat calls, and open streams.
LOADS = (Load(rps=500), Load(rps=2000), Load(rps=10000), Load(streams=5000))


def figures(doc: dict[str, Any], config: str = "bare") -> dict[str, float]:
    """:func:`plan`'s inputs from a ``sizing.json``: ``config`` is ``bare`` or ``limits``.

    Memory: a worker's RSS after the JSON and SSE rounds, plus each open stream's share at
    1,000 streams; a request's PostgreSQL and Redis costs are the measured ones (Redis: round
    trips, :data:`SENT`)."""
    streams = doc["streams"]
    # The first step (1,000 streams) is where a worker still has headroom; past ~3,000 at
    # 5 tokens/s its core is saturated and chunks queue in buffers (a steeper, unhealthy slope).
    first = streams["steps"][0]
    ops = doc["ops_per_request"][config]
    return {
        "rps_per_worker": doc["throughput"]["json"][config]["rps"],
        "rss_loaded_mb": doc["rss_loaded_mb"][config],
        "kb_per_stream": (first["rss_mb"] - streams["rss_idle_mb"]) * 1024 / first["open"],
        "stream_cpu_cores": first["cpu_cores"] / first["open"],
        "redis_per_req": sum(ops.get(f"redis_{c}", 0.0) for c in SENT),
        "pg_xact_per_req": ops["pg_xacts"],
        "pg_rows_per_req": ops["pg_rows"],
    }


def table(doc: dict[str, Any], config: str = "bare", **kw: Any) -> str:
    """The worked table (markdown) for :data:`LOADS`."""
    fig = figures(doc, config)
    lines = [
        "| load | cores busy | workers | replicas (2 workers) | memory MB (per replica) "
        "| Redis round trips/s | PostgreSQL transactions/s (rows/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for load in LOADS:
        r = plan(load, fig, **kw)
        what = f"{load.rps:,.0f} req/s" if load.rps else f"{load.streams:,} open streams"
        lines.append(
            f"| {what} | {r['cores_busy']} | {r['workers']} | {r['replicas']} "
            f"| {r['memory_mb']:,} ({r['memory_per_replica_mb']:,}) | {r['redis_cmds_per_s']:,} "
            f"| {r['pg_xacts_per_s']:,} ({r['pg_rows_per_s']:,}) |"
        )
    return "\n".join(lines)


def per_request(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """Counter deltas divided by the requests served between the two readings."""
    if n <= 0:
        raise ValueError("no requests between the readings")
    return {k: round((after[k] - before[k]) / n, 4) for k in after if k in before}


# ---------------------------------------------------------------- IO: the measurement


def _redis_by_command(port: int) -> dict[str, int]:
    """Calls per command (``INFO commandstats``), to see which commands a request costs."""
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "commandstats"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    calls: dict[str, int] = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_") :].split(":", 1)
            calls[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
    return calls


class Sizing:
    def __init__(self, seconds: float, rounds: int) -> None:
        self.seconds = seconds
        self.rounds = rounds
        self.procs: list[Proc] = []
        self.db = f"plano_sizing_{os.getpid()}"
        self.redis_port = 0

    def start(self, name: str, cmd: list[str], port: int, cpus: str | None) -> Proc:
        proc = Proc(name, cmd, WORK / "logs" / f"{name}.log", port, cwd=ROOT, cpus=cpus)
        proc.log.unlink(missing_ok=True)
        proc.start(ready_timeout=60)
        self.procs.append(proc)
        return proc

    def stores(self) -> str:
        self.redis_port = free_port()
        data = WORK / "redis"
        data.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(data)]
        self.start("redis", cmd, self.redis_port, LOAD_CPU)
        _pg_admin(f"DROP DATABASE IF EXISTS {self.db}")
        _pg_admin(f"CREATE DATABASE {self.db}")
        pg = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.db}"
        return (
            f"state:\n  redis: redis://127.0.0.1:{self.redis_port}/0\n  postgres: {pg}\n"
            f"  key_prefix: sizing{os.getpid()}\n"
        )

    def gateway(self, name: str, upstream: int, extra: str) -> Proc:
        port = free_port()
        cwd = WORK / name
        cwd.mkdir(parents=True, exist_ok=True)
        cfg = cwd / "config.yaml"
        cfg.write_text(bare_config(port, upstream) + extra)
        cmd = [sys.executable, "-m", "plano", "up", str(cfg), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", "1"]
        proc = self.start(f"plano-{name}", cmd, port, GW_CPU)
        wait_http(port, "/healthz", 30)
        return proc

    def wrk(self, port: int, stream: bool, seconds: float) -> dict[str, float]:
        script = WORK / f"{'sse' if stream else 'json'}.lua"
        body = request_body("gpt-4o-mini", stream)
        script.write_text(lua_script(body, {"Content-Type": "application/json"}))
        res, _ = run_wrk(
            f"http://127.0.0.1:{port}/v1/chat/completions", script, 50, seconds, cpus=LOAD_CPU
        )
        return {"rps": res.rps, "p99_ms": res.p99_ms, "n": res.requests, "errors": res.errors}

    def counters(self) -> dict[str, float]:
        commits, rows = _pg_counts(PG_ADMIN.rsplit("/", 1)[0] + f"/{self.db}", self.db)
        return {
            "redis_cmds": float(_redis_calls(self.redis_port)),
            "pg_xacts": float(commits),
            "pg_rows": float(rows),
        } | {f"redis_{k}": float(v) for k, v in _redis_by_command(self.redis_port).items()}

    def throughput(self, targets: dict[str, Proc]) -> dict[str, Any]:
        """Rounds alternating the floor and the gateways on core 0; JSON, then SSE."""
        out: dict[str, Any] = {}
        for kind, names in (("json", list(targets)), ("sse", ["floor", "bare"])):
            stream = kind == "sse"
            for name in names:
                self.wrk(targets[name].port, stream, 2.0)  # warm-up
            rows: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            cpu: dict[str, float] = dict.fromkeys(names, 0.0)
            busy0, t0 = machine_busy_seconds(), time.monotonic()
            for rnd in range(self.rounds):
                for name in names:
                    c0 = cpu_seconds(targets[name].pids())
                    r = self.wrk(targets[name].port, stream, self.seconds)
                    cpu[name] += cpu_seconds(targets[name].pids()) - c0
                    rows[name].append(r)
                    log(f"  sizing {kind} {name:<6} r{rnd} {r['rps']:>8.1f} req/s")
            own = sum(cpu.values())
            wall = time.monotonic() - t0
            floor = rows["floor"]
            out[kind] = {
                name: {
                    "rps": round(statistics.median(r["rps"] for r in rs), 1),
                    "vs_floor": round(
                        statistics.median(
                            r["rps"] / f["rps"] for r, f in zip(rs, floor, strict=True)
                        ),
                        3,
                    ),
                    "p99_ms": round(statistics.median(r["p99_ms"] for r in rs), 2),
                    "cpu_us_per_req": round(cpu[name] * 1e6 / sum(r["n"] for r in rs), 1),
                    "errors": int(sum(r["errors"] for r in rs)),
                    "requests": int(sum(r["n"] for r in rs)),
                }
                for name, rs in rows.items()
            }
            # Busy cores minus the gateways' own (wrk and the upstream are in it too).
            out[kind]["machine_busy_cores"] = round((machine_busy_seconds() - busy0) / wall, 2)
            out[kind]["targets_busy_cores"] = round(own / wall, 2)
        return out

    def ops(self, proc: Proc) -> dict[str, float]:
        time.sleep(1.5)  # the last batches written, PostgreSQL's statistics reported
        before = self.counters()
        r = self.wrk(proc.port, False, self.seconds)
        time.sleep(1.5)
        after = self.counters()
        counts = per_request(before | dict.fromkeys(after, 0.0) | before, after, int(r["n"]))
        return {k: v for k, v in counts.items() if v} | {"requests": r["n"]}

    def streams(self, upstream: int, state: str, counts: tuple[int, ...]) -> dict[str, Any]:
        """A fresh worker; holders of streams added one after another; RSS and CPU at each."""
        # Every holder connects from 127.0.0.1: lift the per-client cap (1,024 by default);
        # and a worker serves 2,048 requests at once by default (``max_in_flight``).
        gw = self.gateway(
            "streams",
            upstream,
            state + "gateway:\n  max_connections_per_client: 0\n  max_in_flight: 10000\n",
        )
        body = request_body("gpt-4o-mini", True).decode()
        out: dict[str, Any] = {
            "upstream": "bench upstream, 5 tokens/s, 1000 tokens per answer",
            "gateway": "max_connections_per_client: 0, max_in_flight: 10000",
            "rss_idle_mb": round(rss_mb(gw.pids()), 1),
            "steps": [],
        }
        holders: list[subprocess.Popen[str]] = []
        held = 0
        try:
            for total in counts:
                cmd = [sys.executable, "-m", "bench.clients", "hold", "--port", str(gw.port)]
                cmd += ["--body", body, "--n", str(total - held), "--ready-timeout", "120"]
                h = subprocess.Popen(
                    ["taskset", "-c", LOAD_CPU, *cmd],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                holders.append(h)
                assert h.stdout is not None
                line = h.stdout.readline()
                ready = json.loads(line[6:]) if line.startswith("READY ") else {}
                held += int(ready.get("open", 0))
                time.sleep(1.0)
                c0, t0 = cpu_seconds(gw.pids()), time.monotonic()
                samples = []
                for _ in range(5):
                    samples.append(rss_mb(gw.pids()))
                    time.sleep(0.4)
                cores = (cpu_seconds(gw.pids()) - c0) / (time.monotonic() - t0)
                step = {
                    "requested": total,
                    "open": held,
                    "failed": int(ready.get("failed", 0)),
                    "seconds_to_open": ready.get("seconds"),
                    "rss_mb": round(max(samples), 1),
                    "cpu_cores": round(cores, 3),
                }
                out["steps"].append(step)
                log(f"  sizing streams {step}")
        finally:
            for h in holders:
                assert h.stdin is not None
                h.stdin.write("stop\n")
                h.stdin.flush()
            for h in holders:
                try:
                    h.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    h.kill()
        time.sleep(1.0)
        out["rss_after_close_mb"] = round(rss_mb(gw.pids()), 1)
        s = out["steps"]
        if len(s) >= 2 and s[-1]["open"] > s[0]["open"]:
            d_open = s[-1]["open"] - s[0]["open"]
            out["kb_per_stream"] = round((s[-1]["rss_mb"] - s[0]["rss_mb"]) * 1024 / d_open, 1)
            out["cpu_cores_per_stream"] = round(
                (s[-1]["cpu_cores"] - s[0]["cpu_cores"]) / d_open, 6
            )
        return out

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        try:
            _pg_admin(f"DROP DATABASE IF EXISTS {self.db}")
        except Exception as exc:
            log(f"could not drop {self.db}: {exc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sizing", description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--streams", default="1000,5000", help="open streams at each step")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--table", action="store_true", help="print the worked tables of --out")
    p.add_argument(
        "--streams-only", action="store_true", help="measure the streams; keep the rest of --out"
    )
    args = p.parse_args(argv)
    if args.table:
        saved = json.loads(args.out.read_text())
        for config in ("bare", "limits"):
            print(f"{config}:\n{table(saved, config)}\n")
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    raise_nofile()
    s = Sizing(args.seconds, args.rounds)
    doc: dict[str, Any] = {"generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.streams_only:
        doc = json.loads(args.out.read_text()) | {"streams_generated_at": doc["generated_at"]}
    try:
        up, slow = free_port(), free_port()
        cmd = [sys.executable, "-m", "bench.upstream", "--port", str(slow)]
        s.start("upstream-slow", [*cmd, "--tps", "5", "--tokens", "1000"], slow, LOAD_CPU)
        state = s.stores()
        counts = tuple(int(x) for x in args.streams.split(","))
        if args.streams_only:
            doc["streams"] = s.streams(slow, state, counts)
            return _write(doc, args.out)
        s.start("upstream", [sys.executable, "-m", "bench.upstream", "--port", str(up)], up, "1")
        fl = free_port()
        cmd = [sys.executable, "-m", "bench.floor", "--port", str(fl)]
        floor = s.start("floor", [*cmd, "--upstream", f"http://127.0.0.1:{up}"], fl, GW_CPU)
        bare = s.gateway("bare", up, state)
        limits = s.gateway("limits", up, state + LIMITS_YAML)
        time.sleep(1.0)
        doc["rss_idle_mb"] = {"bare": round(rss_mb(bare.pids()), 1)}
        doc["throughput"] = s.throughput({"floor": floor, "bare": bare, "limits": limits})
        doc["rss_loaded_mb"] = {
            "bare": round(rss_mb(bare.pids()), 1),
            "limits": round(rss_mb(limits.pids()), 1),
            "floor": round(rss_mb(floor.pids()), 1),
        }
        doc["ops_per_request"] = {"bare": s.ops(bare), "limits": s.ops(limits)}
        log(f"  sizing ops {doc['ops_per_request']}")
        bare.stop()
        limits.stop()
        doc["streams"] = s.streams(slow, state, counts)
    finally:
        s.close()
    doc["method"] = (
        f"{args.rounds} rounds x {args.seconds:g} s per target, alternating with the floor; wrk, "
        "concurrency 50, small request; one worker and the floor pinned to core 0, wrk, the "
        "upstreams and redis-server on core 1; state: {redis, postgres} on (a redis-server and "
        "a database of this run's own)"
    )
    return _write(doc, args.out)


def _write(doc: dict[str, Any], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
