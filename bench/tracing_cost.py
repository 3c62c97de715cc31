"""``python -m bench.tracing_cost``: what tracing every request costs, against the bare aiohttp
relay (``bench/floor.py``) and Plano without tracing, in the same rounds.

Targets, each a ``plano up`` with one worker pinned to core 0 (wrk, the simulated upstream and
the OTLP collector on core 1), the bare config with metrics and agentic signals off (their benches
measure them) plus:

* ``bare``: no ``tracing:`` section;
* ``tracing``: ``random_sampling: 100``, every span exported over OTLP/gRPC to a real
  collector (``bench/otlp_sink.py``) and every trace kept in the gateway's SQLite store;

and ``floor``. Bodies: the main bench's small JSON request (``json-c50``) and the same
streamed (``sse-c50``). In process: the microseconds the span pipeline's batch spends per
request (spans built, OTLP payload serialized, stored part made), off the request's task.

Results go to ``docs/benchmarks/tracing.json`` and the report's section "Tracing"
(``docs/benchmarks.md``). ``--smoke`` is a seconds-long pass into ``bench/.work/tracing/``.
"""

from __future__ import annotations

import signal
import sys
import time
from functools import partial
from typing import Any

from bench import common_cost, governance
from bench.governance import Run, Target, samples_of, summary
from bench.procs import free_port
from bench.scenarios import bare_config, request_body

__all__ = ["HEADING", "config_for", "main", "micro", "render_doc"]

ROOT = common_cost.ROOT
WORK = ROOT / "bench" / ".work" / "tracing"
OUT = ROOT / "docs" / "benchmarks" / "tracing.json"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Tracing"
COMMAND = "python -m bench.tracing_cost"
TITLES = {
    "floor": "bare aiohttp relay (floor)",
    "bare": "plano, no tracing",
    "tracing": "plano, tracing 100%: OTLP/gRPC export + recent traces kept",
}


def config_for(name: str, port: int, upstream: int, collector: int) -> str:
    # Metrics and agentic signals off in both: their benches measure them (signals' span
    # enricher runs in the tracer's batch when they are on).
    text = bare_config(port, upstream) + "metrics:\n  enabled: false\n"
    text += "overrides:\n  disable_signals: true\n"
    if name == "tracing":
        text += (
            "tracing:\n  random_sampling: 100\n"
            f"  opentracing_grpc_endpoint: http://127.0.0.1:{collector}\n"
        )
    return text


class _Run(Run):
    def plano(self, name: str, upstream: int, collector: int) -> Target:
        config = partial(config_for, name, upstream=upstream, collector=collector)
        return Target(name, *common_cost.start_plano(self, WORK, name, config))


def micro(n: int = 2000) -> dict[str, float]:
    """In process: µs per request of the tracer's batch (a streamed request through auth and
    a filter with one fallback: 6 spans built, OTLP serialized, a stored part) and of the
    request-path marks (the chain's timing of two filters and two attempts)."""
    from decimal import Decimal

    from plano.config.tracing import Tracing
    from plano.core.model import ChatRequest, Message, TextPart, Usage
    from plano.observe.tracing import Tracer, TracingFilter, _Done
    from plano.pipeline.context import RequestContext
    from plano.pipeline.marks import FilterMark, TraceMarks
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment
    from plano.providers.table import KNOWN_PROVIDERS

    dep = Deployment("gpt", "openai", "gpt-4o-mini", KNOWN_PROVIDERS["openai"], "http://x")
    tracer = Tracer(Tracing(), [], None)
    f = TracingFilter(tracer)

    ids = iter(range(10**9))

    def request() -> RequestContext:  # unique ids, as the gateway's are
        c = RequestContext(f"req_{next(ids):016x}", "openai_chat", {}, listener="llm")
        c.request = ChatRequest("m", [Message("user", [TextPart("hi")])], stream=True)
        c.spans = TraceMarks()
        return c

    async def hot() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            c = request()
            marks = c.spans
            assert marks is not None
            for name in ("auth", "guard"):
                s = time.perf_counter_ns()
                marks.filters.append(
                    FilterMark(
                        c.trace.span_id,
                        "1" * 16,
                        name,
                        "on_request",
                        s,
                        time.perf_counter_ns(),
                        None,
                    )
                )
            for _attempt in range(2):
                f.on_attempt_start(c, dep)
                await f.on_upstream_request(c, dep, UpstreamRequest("http://x/v1/c", {}, b""))
                f.on_attempt_end(c, dep, None)
        return (time.perf_counter() - t0) / n

    import asyncio

    async def baseline() -> float:  # the same requests made, nothing recorded
        t0 = time.perf_counter()
        for _ in range(n):
            request()
        return (time.perf_counter() - t0) / n

    hot_s = min(asyncio.run(hot()) for _ in range(3)) - min(
        asyncio.run(baseline()) for _ in range(3)
    )
    batch = []
    for _ in range(200):
        c = request()
        asyncio.run(_fill(c, f, dep))
        c.deployment, c.usage, c.cost = dep, Usage(100, 20), Decimal("0.00001")
        c.end_ns = time.perf_counter_ns()
        assert c.spans is not None
        batch.append(_Done(c, c.spans, None))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(max(1, n // 200)):
            tracer._prepare(batch, True, True)
        best = min(best, (time.perf_counter() - t0) / (max(1, n // 200) * len(batch)))
    return {"hot_path_us": round(hot_s * 1e6, 2), "batch_us": round(best * 1e6, 2)}


async def _fill(c: Any, f: Any, dep: Any) -> None:
    from plano.pipeline.marks import FilterMark
    from plano.providers.codec import UpstreamRequest

    assert c.spans is not None
    now = time.perf_counter_ns()
    for name in ("auth", "guard", "tracing"):
        c.spans.filters.append(
            FilterMark(c.trace.span_id, "2" * 16, name, "on_request", now, now + 1000, None)
        )
    for _ in range(2):
        f.on_attempt_start(c, dep)
        await f.on_upstream_request(c, dep, UpstreamRequest("http://x/v1/c", {}, b""))
        f.on_attempt_end(c, dep, None)


def render_doc(doc: dict[str, Any]) -> str:
    mic = doc.get("micro", {})
    lines = [
        f"Measured {doc['generated_at']} by `{COMMAND}` "
        f"([benchmarks/tracing.json](benchmarks/tracing.json)): {doc['method']}. Each row is "
        "`plano up` (one worker, pinned to one core) with the bare config, metrics and "
        "agentic signals off (measured in their own sections); "
        "tracing samples every request, exports every span over OTLP/gRPC to a real collector "
        "and keeps every trace in the gateway's SQLite store. *vs floor* is the row's req/s "
        "over the floor's (the bare aiohttp relay), *vs off* over Plano's without tracing, "
        "both per round; *added* is `1/rps - 1/rps(off)`; *CPU* the gateway's own CPU per "
        "request (`/proc`), *added CPU* over tracing off.",
        "",
    ]
    titles = {"small": "non-streaming JSON, concurrency 50 (`json-c50`)",
              "stream": "streaming SSE, whole stream, concurrency 50 (`sse-c50`)"}  # fmt: skip
    for body, rows in doc["rows"].items():
        lines += [
            f"Body: {titles.get(body, body)}.",
            "",
            "| target | req/s | floor req/s | vs floor | vs off | added µs/req | CPU µs/req "
            "| added CPU µs/req | p99 ms | errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            added = "-" if r["added_us"] is None else f"{r['added_us']:,.1f}"
            cpu = "-" if r["added_cpu_us"] is None else f"{r['added_cpu_us']:,.1f}"
            lines.append(
                f"| {TITLES.get(r['target'], r['target'])} | {r['rps']:,.0f} | "
                f"{r['floor_rps']:,.0f} | {r['vs_floor']:.2f} | {r['vs_bare']:.3f} | {added} | "
                f"{r['cpu_us']:,.0f} | {cpu} | {r['p99_ms']:.2f} | {r['errors']} |"
            )
        lines.append("")
    if mic:
        lines += [
            f"In process: the request path's marks cost {mic['hot_path_us']:.1f} µs per "
            f"request (two filters, two attempts); the tracer's batch {mic['batch_us']:.1f} "
            "µs per request (six spans built, OTLP serialized, the stored part), on its own "
            f"thread. An OpenTelemetry SDK span costs {mic.get('sdk_span_us', 0):.1f} µs here "
            f"against {mic.get('plain_span_us', 0):.2f} µs for a plain value "
            "(`python -m bench.otel_span_cost`): the SDK stays off the request path.",
            "",
        ]
    lines += [f"Reproduce: `{COMMAND}` (`--smoke` for a seconds-long check).", ""]
    return "\n".join(lines)


def _sdk_cost() -> dict[str, float]:
    try:
        from bench.otel_span_cost import _plain, _sdk
    except ImportError:  # the SDK is a bench requirement only
        return {}
    _sdk(), _plain()
    return {
        "sdk_span_us": round(min(_sdk() for _ in range(3)), 2),
        "plain_span_us": round(min(_plain() for _ in range(3)), 2),
    }


def main(argv: list[str] | None = None) -> int:
    a = common_cost.cost_parser(COMMAND, __doc__).parse_args(argv)
    if a.render_only:
        return common_cost.render_again(OUT, render_doc, DOC, HEADING)
    if a.smoke:
        a.seconds, a.rounds, a.warmup = 1.0, 1, 0.5
    out = WORK / "smoke" / "tracing.json" if a.smoke else OUT
    WORK.mkdir(parents=True, exist_ok=True)
    governance.WORK = WORK  # its Run writes logs and wrk scripts there
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = _Run(a.seconds, a.rounds, a.warmup, a.smoke)
    payloads = {"small": request_body("gpt-4o-mini", False)}
    if not a.smoke:
        payloads["stream"] = request_body("gpt-4o-mini", True)
    try:
        up, sink = common_cost.start_upstream(run), free_port()
        run.start("otlp-sink", [sys.executable, "-m", "bench.otlp_sink", "--port", str(sink)],
                  sink, run.load_cpu, ROOT)  # fmt: skip
        targets = [run.floor(up), run.plano("bare", up, sink), run.plano("tracing", up, sink)]
        for body, payload in payloads.items():
            run.measure(targets, body, payload)
        status = governance._admin(targets[2].port, "GET", "/plano/v1/tracing")
    finally:
        run.close()
    samples = samples_of(targets)
    doc: dict[str, Any] = {
        **common_cost.results_head(
            a,
            f"concurrency 50; gateways and floor on core {run.gw_cpu}, wrk, the upstream and "
            f"the collector on core {run.load_cpu}",
        ),
        "rows": summary(samples),
        "samples": samples,
        "tracer": status,
        "configs": run.configs,
        "micro": {**micro(500 if a.smoke else 5000), **_sdk_cost()},
    }
    section = None if a.smoke or a.no_render else DOC  # smoke runs leave the report alone
    common_cost.write_results(doc, out, render_doc, section, HEADING)
    return 1 if a.smoke and common_cost.errors_of(doc) else 0


if __name__ == "__main__":
    raise SystemExit(main())
