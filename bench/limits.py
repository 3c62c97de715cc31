"""``python -m bench.limits``: what a budget and a rate limit add to a request, per hot store.

Two measurements, one run:

* **per request, in process** (``micro``): the filters' own work on one request, as the gateway
  runs it (``on_upstream_request`` then the settlement ``on_complete`` starts), against a
  real store: memory, SQLite (a temp file, WAL; what ``workers: N`` shares) and Redis (a
  ``redis-server`` of its own). Rows: a rate-limit check (one rule, requests and tokens: two
  window calls), a budget reserve + settle (one rule, dollars and tokens: one reserve, one
  settle), and both. Median of ``--rounds`` rounds of ``--n`` sequential requests, µs each,
  and requests/s with 64 at once; the bare floor is 0 (no filter runs without limits);
* **through the gateway** (``gateway``): ``plano up`` with the bare config against the same
  config plus one budget and one rate limit (never reached), per store: memory (one worker),
  SQLite (two workers sharing ``hot.db``) and Redis (one worker); wrk, non-streaming JSON,
  concurrency 50, rounds alternating bare and limited. The added cost per request is
  ``1/rps(limited) - 1/rps(bare)``.

Results go to ``docs/benchmarks/limits.json`` and the report's section on limits
(``docs/benchmarks.md``). ``--micro-only`` skips the gateways.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.install import log
from bench.procs import Proc, free_port, wait_http
from bench.scenarios import bare_config, request_body
from bench.state import splice
from bench.wrk import lua_script, run_wrk

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "limits"
OUT = ROOT / "docs" / "benchmarks" / "limits.json"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Budgets and rate limits"
LOAD_CPU = "1"

LIMITS_YAML = """budgets:
  - name: bench
    scope: global
    period: day
    usd: 1000000
    tokens: 1000000000000
rate_limits:
  - name: bench
    scope: global
    requests: 1000000000
    tokens: 1000000000000
    per: minute
"""


# ---------------------------------------------------------------- in process


def _filters(counters: Any) -> tuple[Any, Any]:
    from plano.accounting.pricing import PriceBook
    from plano.accounting.tokens import TokenCounter
    from plano.config.limits import Budget, RateLimitRule
    from plano.limits import BudgetFilter, BudgetRule, ModelLimits, RateLimitFilter, RateRule

    counter = TokenCounter()
    counter.load()
    budget = Budget(name="bench", scope="global", period="day", usd=10**6, tokens=10**12)
    rate = RateLimitRule(name="bench", scope="global", requests=10**9, tokens=10**12)
    bf = BudgetFilter(
        [BudgetRule.of(budget)], counters, PriceBook(), lambda _d: ModelLimits(128_000, 16_384)
    )
    rf = RateLimitFilter([RateRule.of(rate, 0)], [], counters, counter)
    return bf, rf


def _request() -> tuple[Any, Any, Any]:
    import orjson

    from plano.core.model import Usage
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment
    from plano.providers.table import KNOWN_PROVIDERS
    from plano.wire.openai_chat import parse_request

    raw = request_body("gpt-4o-mini", False)
    dep = Deployment(
        "openai/gpt-4o-mini", "openai", "gpt-4o-mini", KNOWN_PROVIDERS["openai"], "http://x"
    )
    req = parse_request(orjson.loads(raw))
    return dep, UpstreamRequest("http://x/v1/chat/completions", {}, raw), (req, Usage(60, 16))


async def _one(filters: list[Any], dep: Any, ureq: Any, parsed: Any, wait: bool = True) -> None:
    from decimal import Decimal

    from plano.pipeline.context import RequestContext

    req, usage = parsed
    ctx = RequestContext("r", "openai_chat", {}, request=req)
    ctx.deployment = dep
    for f in filters:
        await f.on_upstream_request(ctx, dep, ureq)
    ctx.usage, ctx.cost = usage, Decimal("0.0000186")
    for f in filters:
        await f.on_complete(ctx)
    if wait:  # the settlement runs off the request; counted here all the same
        for f in filters:
            await f.idle()


async def _micro_backend(url: str | None, n: int, rounds: int) -> dict[str, dict[str, float]]:
    from plano.store.factory import open_counters

    counters = open_counters(url, prefix="bench:")
    bf, rf = _filters(counters)
    dep, ureq, parsed = _request()
    out: dict[str, dict[str, float]] = {}
    try:
        for name, filters in (("rate_limit", [rf]), ("budget", [bf]), ("both", [rf, bf])):
            for _ in range(min(n, 200)):
                await _one(filters, dep, ureq, parsed)
            per: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(n):
                    await _one(filters, dep, ureq, parsed)
                per.append((time.perf_counter() - started) / n * 1e6)
            started = time.perf_counter()
            await asyncio.gather(*(_many(filters, dep, ureq, parsed, n // 64) for _ in range(64)))
            rps = (n // 64) * 64 / (time.perf_counter() - started)
            out[name] = {"us": round(statistics.median(per), 1), "rps_c64": round(rps)}
    finally:
        await counters.close()
    return out


async def _many(filters: list[Any], dep: Any, ureq: Any, parsed: Any, k: int) -> None:
    for _ in range(k):
        await _one(filters, dep, ureq, parsed, wait=False)


def micro(redis_url: str | None, n: int, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="plano-limits-"))
    targets: dict[str, str | None] = {"memory": None, "sqlite": f"sqlite://{tmp}/hot.db"}
    if redis_url:
        targets["redis"] = redis_url
    out: dict[str, Any] = {}
    try:
        for backend, url in targets.items():
            out[backend] = asyncio.run(_micro_backend(url, n, rounds))
            log(f"  limits micro {backend:<7} {out[backend]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------- through the gateway


class Gateways:
    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def start(self, name: str, cmd: list[str], port: int, cwd: Path, cpus: str | None) -> Proc:
        proc = Proc(name, cmd, WORK / "logs" / f"{name}.log", port, cwd=cwd, cpus=cpus)
        proc.log.unlink(missing_ok=True)
        proc.start(ready_timeout=60)
        self.procs.append(proc)
        return proc

    def redis(self) -> str:
        port = free_port()
        data = WORK / "redis"
        data.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(data)]
        self.start("redis", cmd, port, WORK, None)
        return f"redis://127.0.0.1:{port}/0"

    def gateway(self, name: str, text: str, port: int, workers: int) -> int:
        cwd = WORK / name
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir(parents=True)
        (cwd / "config.yaml").write_text(text)
        cmd = [sys.executable, "-m", "plano", "up", "config.yaml", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(workers)]
        self.start(f"plano-{name}", cmd, port, cwd, None)
        wait_http(port, "/healthz", 30)
        return port

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _wrk(port: int, seconds: float) -> float:
    script = WORK / "lua" / "json-c50.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        lua_script(request_body("gpt-4o-mini", False), {"Content-Type": "application/json"})
    )
    res, _ = run_wrk(
        f"http://127.0.0.1:{port}/v1/chat/completions", script, 50, seconds, cpus=LOAD_CPU
    )
    if res.errors:
        raise RuntimeError(f"wrk saw {res.errors} errors on port {port}")
    return res.rps


def gateway(
    redis_url: str | None, upstream: int, seconds: float, rounds: int, gws: Gateways
) -> list[dict[str, Any]]:
    setups: list[tuple[str, int, str]] = [("memory", 1, ""), ("sqlite", 2, "")]
    if redis_url:
        setups.append(("redis", 1, f"state:\n  redis: {redis_url}\n"))
    rows = []
    for backend, workers, state in setups:
        ports = {}
        for variant, extra in (("bare", ""), ("limits", LIMITS_YAML)):
            port = free_port()
            text = bare_config(port, upstream) + state + extra
            ports[variant] = gws.gateway(f"{backend}-{variant}", text, port, workers)
        for p in ports.values():
            _wrk(p, 2)  # warm-up: encodings, pools, prices
        rps: dict[str, list[float]] = {"bare": [], "limits": []}
        for rnd in range(rounds):
            for variant, p in ports.items():
                rps[variant].append(_wrk(p, seconds))
                log(f"  limits {backend:<7} w{workers} {variant:<6} r{rnd} {rps[variant][-1]:.0f}")
        bare, limited = (statistics.median(rps[v]) for v in ("bare", "limits"))
        rows.append(
            {
                "backend": backend,
                "workers": workers,
                "bare_rps": round(bare, 1),
                "limits_rps": round(limited, 1),
                "ratio": round(limited / bare, 3),
                "added_us_per_request": round((1 / limited - 1 / bare) * 1e6, 1),
            }
        )
    return rows


# ---------------------------------------------------------------- report


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"Measured {doc['generated_at']} by `python -m bench.limits` ({doc['method']}).",
        "",
        "The filters' own work per request (µs, sequential; requests/s with 64 at once):",
        "",
        "| store | rate-limit check | budget reserve + settle | both |",
        "|---|---|---|---|",
    ]
    for backend, rows in doc["micro"].items():
        cells = [
            f"{rows[k]['us']:.0f} µs ({rows[k]['rps_c64']:,}/s)"
            for k in ("rate_limit", "budget", "both")
        ]
        lines.append(f"| {backend} | " + " | ".join(cells) + " |")
    if doc.get("gateway"):
        lines += [
            "",
            "Through `plano up` (one budget and one rate limit on every request, never reached), "
            "against the bare config in the same run:",
            "",
            "| store | workers | bare req/s | with limits req/s | ratio | added per request |",
            "|---|---|---|---|---|---|",
        ]
        for r in doc["gateway"]:
            lines.append(
                f"| {r['backend']} | {r['workers']} | {r['bare_rps']:,.0f} | "
                f"{r['limits_rps']:,.0f} | {r['ratio']:.2f} | {r['added_us_per_request']:.0f} µs |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__)
    p.add_argument("--n", type=int, default=2000, help="requests per round (in process)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    p.add_argument("--micro-only", action="store_true")
    p.add_argument("--no-redis", action="store_true")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-render", action="store_true", help="leave the report alone")
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what was started
    gws = Gateways()
    doc: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "method": f"in process: median of {args.rounds} x {args.n} requests; gateway: "
        f"{args.rounds} rounds x {args.seconds:g} s alternating, wrk JSON c50 on core 1",
    }
    try:
        redis_url = None if args.no_redis or not shutil.which("redis-server") else gws.redis()
        doc["micro"] = micro(redis_url, args.n, args.rounds)
        if not args.micro_only:
            up = free_port()
            cmd = [sys.executable, "-m", "bench.upstream", "--port", str(up)]
            gws.start("upstream", cmd, up, ROOT, LOAD_CPU)
            doc["gateway"] = gateway(redis_url, up, args.seconds, args.rounds, gws)
    finally:
        gws.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {args.out}")
    print(render(doc))
    if not args.no_render and args.doc.exists():
        args.doc.write_text(splice(args.doc.read_text(), HEADING, render(doc)))
        log(f"wrote its section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
