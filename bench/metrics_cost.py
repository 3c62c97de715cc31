"""``python -m bench.metrics_cost``: what metrics cost a request, against the bare aiohttp relay
(``bench/floor.py``) and Plano with metrics off, in the same rounds.

Targets, each a ``plano up`` with one worker pinned to core 0 (wrk, the simulated upstream
and the scraper on core 1), the bare config plus:

* ``bare``: ``metrics: {enabled: false}`` (nothing counted);
* ``metrics``: metrics on (the default) with the Prometheus listener, scraped every second
  and ``/plano/v1/metrics/summary`` read every two seconds while wrk runs (far more often
  than Prometheus or a dashboard would);
* ``metrics+tracing``: the same with ``tracing: {random_sampling: 100}`` (every request
  traced; the exporter's collector is absent, so spans are built and dropped at export);

and ``floor``. Two bodies: the main bench's small JSON request (``json-c50``) and the same
streamed (``sse-c50``: the whole stream). Figures are medians of rounds that alternate the
targets (``bench/governance.py``'s method). Also, in process: the microseconds one finished
request costs :meth:`GatewayMetrics.record` (off the request's task, in ``on_complete``) and
what a scrape of 200 series costs.

Results go to ``docs/benchmarks/metrics.json`` and the report's section "Metrics"
(``docs/benchmarks.md``). ``--smoke`` is a seconds-long pass into ``bench/.work/metrics/``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from bench import common_cost, governance
from bench.governance import Run, Target, samples_of, summary
from bench.install import log
from bench.procs import free_port
from bench.scenarios import bare_config, request_body

__all__ = ["HEADING", "config_for", "main", "micro", "render"]

ROOT = common_cost.ROOT
WORK = ROOT / "bench" / ".work" / "metrics"
OUT = ROOT / "docs" / "benchmarks" / "metrics.json"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Metrics"
COMMAND = "python -m bench.metrics_cost"
TITLES = {
    "floor": "bare aiohttp relay (floor)",
    "bare": "plano, metrics off",
    "metrics": "plano, metrics on, scraped every 1 s",
    "metrics+tracing": "plano, metrics on + tracing at 100%",
}


def config_for(name: str, port: int, upstream: int, metrics_port: int) -> str:
    text = bare_config(port, upstream)
    if name == "bare":
        return text + "metrics:\n  enabled: false\n"
    text += f"metrics:\n  port: {metrics_port}\n"
    if name == "metrics+tracing":
        text += "tracing:\n  random_sampling: 100\n"
    return text


class _Run(Run):
    def plano(self, name: str, upstream: int) -> tuple[Target, int]:
        mport = free_port()
        config = partial(config_for, name, upstream=upstream, metrics_port=mport)
        return Target(name, *common_cost.start_plano(self, WORK, name, config)), mport


class Scraper:
    """Scrapes the metrics port every second and reads the summary every two, in a thread."""

    def __init__(self, metrics_port: int, port: int) -> None:
        self.urls = [
            (f"http://127.0.0.1:{metrics_port}/metrics", 1.0),
            (f"http://127.0.0.1:{port}/plano/v1/metrics/summary", 2.0),
        ]
        self.stop = threading.Event()
        self.scrapes = 0
        self.failures = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        due = [0.0 for _ in self.urls]
        while not self.stop.wait(0.05):
            now = time.monotonic()
            for i, (url, every) in enumerate(self.urls):
                if now < due[i]:
                    continue
                due[i] = now + every
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        r.read()
                    self.scrapes += 1
                except OSError:
                    self.failures += 1


def micro(n: int = 20000) -> dict[str, float]:
    """In process: µs per :meth:`GatewayMetrics.record` (a streamed request with usage,
    cost, one fallback and two decisions) and ms per scrape render."""
    from decimal import Decimal

    from plano.core.model import ChatRequest, Message, TextPart, Usage
    from plano.observe.metrics import merge, render
    from plano.observe.metrics_gateway import GatewayMetrics, ModelLabels
    from plano.observe.metrics_share import MetricsShare
    from plano.pipeline.context import Attempt, Decision, RequestContext
    from plano.providers.deployment import Deployment
    from plano.providers.table import spec_for

    spec = spec_for("openai")
    assert spec is not None
    models = [f"openai/m{i}" for i in range(10)]
    labels = ModelLabels([(m, "openai", False) for m in models])
    m = GatewayMetrics()
    ctxs = []
    for i in range(100):
        c = RequestContext(f"r{i}", "openai_chat", {}, listener="llm")
        c.request = ChatRequest(
            model="x", messages=[Message("user", [TextPart("hi")])], stream=True
        )
        c.deployment = Deployment(models[i % 10], "openai", f"m{i % 10}", spec, "http://x")
        c.attempts = [Attempt(models[(i + 1) % 10], 429, "rate_limited", 5.0),
                      Attempt(models[i % 10], 200, None, 90.0)]  # fmt: skip
        c.decisions = [Decision("auth", "allow"), Decision("budget", "allow")]
        c.usage, c.cost = Usage(100, 20), Decimal("0.0000123")
        c.first_token_ns, c.end_ns = c.started_ns + 30_000_000, c.started_ns + 90_000_000
        ctxs.append(c)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()  # CPU time: other processes' load does not count
        for j in range(n):
            m.record(ctxs[j % 100], labels)
        best = min(best, (time.process_time() - t0) / n)
    series = sum(len(f.values) for f in m.registry.families.values())
    share = MetricsShare(m, None)

    async def scrape() -> float:
        t0 = time.perf_counter()
        merged = await share.merged()
        render(m.registry, merged.values)
        return time.perf_counter() - t0

    scrape_s = min(asyncio.run(scrape()) for _ in range(20))
    snap = m.snapshot()
    t0 = time.perf_counter()
    merge(m.registry, [snap, snap, snap], own=snap)
    merge_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        share.share_with(Path(tmp), 1.0)
        t0 = time.process_time()
        for _ in range(20):
            asyncio.run(share.publish())
        publish_s = (time.process_time() - t0) / 20
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
    return {
        "record_us": round(best * 1e6, 2),
        "series": series,
        "scrape_ms": round(scrape_s * 1e3, 2),
        "merge_4_processes_ms": round(merge_s * 1e3, 2),
        "publish_ms": round(publish_s * 1e3, 2),
        "snapshot_bytes": size,
    }


def render_doc(doc: dict[str, Any]) -> str:
    mic = doc.get("micro", {})
    lines = [
        f"Measured {doc['generated_at']} by `{COMMAND}` "
        f"([benchmarks/metrics.json](benchmarks/metrics.json)): {doc['method']}. Each row is "
        "`plano up` (one worker, pinned to one core) with the bare config; metrics on are "
        "scraped every second (`/metrics`) and the dashboard's summary read every two while "
        "wrk runs. *vs floor* is the row's req/s over the floor's (the bare aiohttp relay), "
        "*vs off* over Plano's with metrics off, both per round; *CPU* is the gateway's own "
        "CPU per request (`/proc`), *CPU vs floor* the floor's CPU per request over the row's "
        "(the req/s ratio each would have on a core of its own), *added CPU* the row's CPU per "
        "request over metrics off's: on a shared machine the CPU figures are the steadier "
        "ones. *Other load* is the median of the cores other users' processes kept busy "
        "during the rounds (of 2): past ~0.3 the rows differ by more than metrics cost.",
        "",
    ]
    titles = {"small": "non-streaming JSON, concurrency 50 (`json-c50`)",
              "stream": "streaming SSE, whole stream, concurrency 50 (`sse-c50`)"}  # fmt: skip
    for body, rows in doc["rows"].items():
        lines += [
            f"Body: {titles.get(body, body)}.",
            "",
            "| target | req/s | vs floor | vs off | CPU µs/req | CPU vs floor "
            "| added CPU µs/req | p99 ms | errors | other load (cores) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cpu = "-" if r["added_cpu_us"] is None else f"{r['added_cpu_us']:,.1f}"
            cpu_floor = r.get("cpu_vs_floor")
            shown = "-" if cpu_floor is None else f"{cpu_floor:.2f}"
            lines.append(
                f"| {TITLES.get(r['target'], r['target'])} | {r['rps']:,.0f} | "
                f"{r['vs_floor']:.2f} | {r['vs_bare']:.3f} | {r['cpu_us']:,.0f} | {shown} | "
                f"{cpu} | {r['p99_ms']:.2f} | {r['errors']} | {r['noise_cores']:.2f} |"
            )
        lines.append("")
    if mic:
        lines += [
            f"In process: recording one finished request costs {mic['record_us']:.1f} µs "
            f"(after the answer, off the request's task); a scrape of {mic['series']} series "
            f"costs {mic['scrape_ms']:.2f} ms; merging four workers' snapshots "
            f"{mic['merge_4_processes_ms']:.2f} ms"
            + (
                f"; with several workers, each publishes its snapshot "
                f"({mic['snapshot_bytes'] / 1024:.0f} KB) every interval for "
                f"{mic['publish_ms']:.2f} ms of CPU (asyncio.run included)."
                if "publish_ms" in mic
                else "."
            ),
            "",
        ]
    lines += [f"Reproduce: `{COMMAND}` (`--smoke` for a seconds-long check).", ""]
    return "\n".join(lines)


render = render_doc


def main(argv: list[str] | None = None) -> int:
    p = common_cost.cost_parser(COMMAND, __doc__)
    p.add_argument("--no-tracing", action="store_true", help="skip metrics+tracing")
    a = p.parse_args(argv)
    if a.render_only:
        return common_cost.render_again(OUT, render_doc, DOC, HEADING)
    if a.smoke:
        a.seconds, a.rounds, a.warmup = 1.0, 1, 0.5
    out = WORK / "smoke" / "metrics.json" if a.smoke else OUT
    WORK.mkdir(parents=True, exist_ok=True)
    governance.WORK = WORK  # its Run writes logs and wrk scripts there
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = _Run(a.seconds, a.rounds, a.warmup, a.smoke)
    scrapers: list[Scraper] = []
    payloads = {"small": request_body("gpt-4o-mini", False)}
    if not a.smoke:
        payloads["stream"] = request_body("gpt-4o-mini", True)
    names = ["metrics"] if a.no_tracing else ["metrics", "metrics+tracing"]
    try:
        up = common_cost.start_upstream(run)
        targets = [run.floor(up), run.plano("bare", up)[0]]
        for name in names:
            try:
                t, mport = run.plano(name, up)
            except Exception as exc:  # e.g. tracing not available in this tree
                log(f"metrics bench: {name} not started: {exc}")
                continue
            targets.append(t)
            scrapers.append(Scraper(mport, t.port))
        for body, payload in payloads.items():
            run.measure(targets, body, payload)
    finally:
        for s in scrapers:
            s.stop.set()
        run.close()
    doc: dict[str, Any] = {
        **common_cost.results_head(
            a,
            f"concurrency 50; gateways and floor on core {run.gw_cpu}, wrk, the upstream and "
            f"the scraper on core {run.load_cpu}",
        ),
        "rows": summary(samples_of(targets)),
        "samples": samples_of(targets),
        "scrapes": {
            "done": sum(s.scrapes for s in scrapers),
            "failed": sum(s.failures for s in scrapers),
        },
        "configs": run.configs,
        "micro": micro(2000 if a.smoke else 20000),
    }
    section = None if a.smoke or a.no_render else DOC  # smoke runs leave the report alone
    common_cost.write_results(doc, out, render_doc, section, HEADING)
    return 1 if a.smoke and (common_cost.errors_of(doc) or doc["scrapes"]["failed"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
