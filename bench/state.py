"""``python -m bench.state``: what each state backend costs the gateway, in req/s, and how many
server operations a request makes.

Three ways to keep state, each at one and two workers, bare config, non-streaming JSON at
concurrency 50 (wrk):

* ``memory``   ``state: {path: ":memory:"}``: every process keeps its own (today's behaviour
               before shared state; not correct across workers);
* ``embedded`` no ``state:`` at all: the usage log in ``.plano/state.db`` (SQLite, WAL) and,
               with two workers, hot state in ``.plano/hot.db``;
* ``servers``  ``state: {redis, postgres}``: per target, a redis-server of its own (so its
               command counts are that gateway's only) and a database of its own on the
               local PostgreSQL.

Targets alternate round by round for req/s. Then, one target at a time, one more run counts
operations per request with the servers' own counters: Redis ``INFO commandstats`` calls,
PostgreSQL ``pg_stat_database`` transactions and inserted rows (read after a pause: backends
report them about once a second), and the writers' batches per record (``/plano/v1/status``
of every worker). Results go to ``docs/benchmarks/state.json`` and the
report's section on state (``docs/benchmarks.md``) is written with them: replaced in place,
the rest of the report left as the last ``make bench`` wrote it (which renders the section too).

Gateways are unpinned (two workers need both cores); wrk and the upstream share core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.install import log
from bench.procs import Proc, free_port, wait_http
from bench.report import STATE_HEADING, _state
from bench.scenarios import bare_config, request_body
from bench.wrk import lua_script, run_wrk

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "state"
OUT = ROOT / "docs" / "benchmarks" / "state.json"
DOC = ROOT / "docs" / "benchmarks.md"
#: The report's section the state section follows when the report has none yet.
AFTER = "## Worker processes"
PG_ADMIN = os.environ.get("PLANO_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LOAD_CPU = "1"
BACKENDS = ("memory", "embedded", "servers")


@dataclass
class Target:
    backend: str
    workers: int
    proc: Proc
    port: int
    redis_port: int = 0
    db: str = ""
    rounds: list[dict[str, float]] = field(default_factory=list)
    ops: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.backend}-w{self.workers}"


def _state_yaml(backend: str, redis_url: str, pg_url: str) -> str:
    if backend == "memory":
        return 'state:\n  path: ":memory:"\n'
    if backend == "servers":
        return f"state:\n  redis: {redis_url}\n  postgres: {pg_url}\n"
    return ""


def _redis_calls(port: int) -> int:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "commandstats"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            total += int(fields["calls"])
    return total


def _pg_counts(url: str, db: str) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            row = await conn.fetchrow(
                "SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = $1", db
            )
            assert row is not None
            return int(row[0]), int(row[1])
        finally:
            await conn.close()

    return asyncio.run(read())


def _pg_admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _writers(port: int, workers: int) -> dict[int, dict[str, Any]]:
    """Each worker's writer stats (``/plano/v1/status`` on new connections until all seen)."""
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 20
    while len(seen) < workers and time.monotonic() < deadline:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/plano/v1/status", headers={"Connection": "close"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            st = json.loads(r.read())
        seen[st["pid"]] = st["writer"]
    return seen


class StateBench:
    def __init__(self, seconds: float, rounds: int, warmup: float) -> None:
        self.seconds = seconds
        self.rounds = rounds
        self.warmup = warmup
        self.procs: list[Proc] = []
        self.dbs: list[str] = []

    def start(self, name: str, cmd: list[str], port: int, cpus: str | None, cwd: Path) -> Proc:
        proc = Proc(name, cmd, WORK / "logs" / f"{name}.log", port, cwd=cwd, cpus=cpus)
        proc.log.unlink(missing_ok=True)
        proc.start(ready_timeout=60)
        self.procs.append(proc)
        return proc

    def servers(self, name: str) -> tuple[int, str]:
        """A redis-server and a PostgreSQL database of this target's own."""
        port = free_port()
        data = WORK / f"redis-{name}"
        data.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(data)]
        self.start(f"redis-{name}", cmd, port, None, WORK)
        db = f"plano_bench_{os.getpid()}_{name.replace('-', '_')}"
        _pg_admin(f"DROP DATABASE IF EXISTS {db}")
        _pg_admin(f"CREATE DATABASE {db}")
        self.dbs.append(db)
        return port, db

    def pg_url(self, db: str) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"

    def gateway(self, backend: str, workers: int, upstream: int) -> Target:
        port = free_port()
        name = f"{backend}-w{workers}"
        cwd = WORK / name
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir(parents=True)
        redis_port, db = self.servers(name) if backend == "servers" else (0, "")
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        text = bare_config(port, upstream) + _state_yaml(backend, redis_url, self.pg_url(db))
        (cwd / "config.yaml").write_text(text)
        cmd = [sys.executable, "-m", "plano", "up", "config.yaml", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(workers)]
        proc = self.start(f"plano-{name}", cmd, port, None, cwd)
        wait_http(port, "/healthz", 30)
        return Target(backend, workers, proc, port, redis_port, db)

    def wrk(self, t: Target, seconds: float) -> dict[str, float]:
        script = WORK / "lua" / "json-c50.lua"
        script.parent.mkdir(parents=True, exist_ok=True)
        body = request_body("gpt-4o-mini", False)
        script.write_text(lua_script(body, {"Content-Type": "application/json"}))
        url = f"http://127.0.0.1:{t.port}/v1/chat/completions"
        res, _ = run_wrk(url, script, 50, seconds, cpus=LOAD_CPU)
        return {
            "rps": res.rps,
            "p50_ms": res.p50_ms,
            "p99_ms": res.p99_ms,
            "n": res.requests,
            "errors": res.errors,
        }

    def measure(self, targets: list[Target]) -> None:
        for t in targets:
            self.wrk(t, self.warmup)
        for rnd in range(self.rounds):
            for t in targets:
                r = self.wrk(t, self.seconds)
                t.rounds.append(r)
                log(f"  state {t.name:<14} r{rnd} {r['rps']:>8.1f} req/s p99 {r['p99_ms']:.2f} ms")
        for t in targets:
            self.count_ops(t)

    def count_ops(self, t: Target) -> None:
        """One more run, alone, between two readings of every counter."""
        time.sleep(1.5)  # the last batches written, PostgreSQL's statistics reported
        before = self._counters(t)
        r = self.wrk(t, self.seconds)
        time.sleep(1.5)
        after = self._counters(t)
        n = r["n"]
        t.ops = {k: (after[k] - before[k]) / n for k in after} | {"requests": n}
        log(f"  state {t.name:<14} operations per request: {t.ops}")

    def _counters(self, t: Target) -> dict[str, float]:
        writers = _writers(t.port, t.workers)
        out = {
            "written": float(sum(w["written"] for w in writers.values())),
            "batches": float(sum(w["batches"] for w in writers.values())),
        }
        if t.backend == "servers":
            out["redis_commands"] = float(_redis_calls(t.redis_port))
            commits, inserted = _pg_counts(self.pg_url(t.db), t.db)
            out["pg_transactions"], out["pg_rows"] = float(commits), float(inserted)
        return out

    def run(self, upstream_port: int) -> list[Target]:
        targets = [self.gateway(b, w, upstream_port) for b in BACKENDS for w in (1, 2)]
        self.measure(targets)
        return targets

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for db in self.dbs:
            try:
                _pg_admin(f"DROP DATABASE IF EXISTS {db}")
            except Exception as exc:
                log(f"could not drop {db}: {exc}")


def summary(targets: list[Target], seconds: float, rounds: int) -> dict[str, Any]:
    rows = []
    base = {
        t.workers: statistics.median(r["rps"] for r in t.rounds)
        for t in targets
        if t.backend == "memory"
    }
    for t in targets:
        rps = statistics.median(r["rps"] for r in t.rounds)
        ops = t.ops
        per = {k: round(v, 4) for k, v in ops.items() if k not in ("requests", "written")}
        if ops.get("written"):
            per["usage_batches_per_record"] = round(ops["batches"] / ops["written"], 4)
        rows.append(
            {
                "backend": t.backend,
                "workers": t.workers,
                "rps": round(rps, 1),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in t.rounds), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in t.rounds), 3),
                "errors": int(sum(r["errors"] for r in t.rounds)),
                "vs_memory": round(rps / base[t.workers], 3) if base.get(t.workers) else None,
                "per_request": per,
                "requests": int(ops.get("requests", 0)),
            }
        )
    return {
        "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "method": f"{rounds} rounds x {seconds:g} s per target, alternating; wrk, JSON, "
        "concurrency 50, bare config; gateways unpinned, wrk and upstream on core 1",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--doc", type=Path, default=DOC, help="the report to write the section into")
    p.add_argument("--no-render", action="store_true", help="leave the report alone")
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    bench = StateBench(args.seconds, args.rounds, args.warmup)
    try:
        up = free_port()
        cmd = [sys.executable, "-m", "bench.upstream", "--port", str(up)]
        bench.start("upstream", cmd, up, LOAD_CPU, ROOT)
        targets = bench.run(up)
    finally:
        bench.close()
    doc = summary(targets, args.seconds, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {args.out}")
    if not args.no_render and args.doc.exists():
        args.doc.write_text(splice(args.doc.read_text(), STATE_HEADING, _state(doc)))
        log(f"wrote its section of {args.doc}")
    return 0


def splice(text: str, heading: str, body: str) -> str:
    """``text`` with the section under ``heading`` replaced by ``body`` (added after the
    workers section, or at the end, when it has none)."""
    section = f"{heading}\n\n{body.strip()}\n\n"
    start = text.find(heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(heading))
        return text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    after = text.find(AFTER)
    end = text.find("\n## ", after + len(AFTER)) if after >= 0 else -1
    if end < 0:
        return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    return text[: end + 1] + section + text[end + 1 :]


if __name__ == "__main__":
    raise SystemExit(main())
