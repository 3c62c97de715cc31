"""The report: ``docs/benchmarks.md`` (Markdown tables) and PNG plots, from the results
document that ``bench.run`` writes as ``results.json``.

:func:`render_markdown` is pure (a dict in, text out) so that the report can be re-rendered
without re-running anything (``python -m bench.run --render-only``). Hand-written analysis
lives in ``docs/benchmarks/notes.md`` and is included as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["fmt", "md_table", "plot", "render_markdown", "write_report"]

Row = Mapping[str, Any]


def fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    """A number for a table; ``-`` for missing values."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}{suffix}"
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _rows(doc: Mapping[str, Any], scenario: str) -> list[Row]:
    return [r for r in doc.get("rows", []) if r["scenario"] == scenario]


def _row(doc: Mapping[str, Any], scenario: str, target: str) -> Row | None:
    for r in _rows(doc, scenario):
        if r["target"] == target:
            return r
    return None


def _perf_table(doc: Mapping[str, Any], scenarios: Sequence[str], ttft: bool = False) -> str:
    headers = ["scenario", "target", "req/s", "p50 ms", "p99 ms", "added p50", "added p99"]
    if ttft:
        headers += ["TTFT p50", "TTFT p99", "added TTFT p50", "added TTFT p99"]
    headers += ["CPU us/req", "RSS MB", "vs direct", "errors", "other load"]
    lines = []
    for sc in scenarios:
        for r in _rows(doc, sc):
            cells = [
                sc,
                f"**{r['target']}**" if r["target"].startswith("plano") else r["target"],
                fmt(r["rps"], 0),
                fmt(r["p50_ms"], 3),
                fmt(r["p99_ms"], 3),
                fmt(r.get("added_p50_ms"), 3),
                fmt(r.get("added_p99_ms"), 3),
            ]
            if ttft:
                cells += [
                    fmt(r.get("ttft_p50_ms"), 3),
                    fmt(r.get("ttft_p99_ms"), 3),
                    fmt(r.get("added_ttft_p50_ms"), 3),
                    fmt(r.get("added_ttft_p99_ms"), 3),
                ]
            ratio = r.get("rps_vs_direct")
            cells += [
                fmt(r.get("cpu_us_per_req"), 0),
                fmt(r.get("rss_mb"), 1),
                "-" if ratio is None else f"{ratio:.3f}x",
                fmt(r["errors"]),
                fmt(r.get("noise_cores"), 2),
            ]
            lines.append(cells)
    if not lines:
        return "_Not measured in this run._"
    return md_table(headers, lines)


def _targets(doc: Mapping[str, Any]) -> str:
    lines = []
    for t in doc.get("targets", []):
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[t["met"]]
        value = "-" if t["value"] is None else f"{fmt(float(t['value']), 3)} {t['unit']}"
        lines.append([t["name"], t["goal"], value, verdict, t.get("note") or ""])
    return md_table(["target", "goal", "measured", "verdict", "note"], lines)


def _growth(doc: Mapping[str, Any]) -> str:
    lines = []
    for sc, label in (("json-c1", "1"), ("json-c50", "50"), ("json-c200", "200")):
        r = _row(doc, sc, "plano")
        d = _row(doc, sc, "direct")
        f = _row(doc, sc, "floor")
        if r is None:
            continue
        own = None
        if f and f.get("cpu_us_per_req") is not None and r.get("cpu_us_per_req") is not None:
            own = float(r["cpu_us_per_req"]) - float(f["cpu_us_per_req"])
        lines.append(
            [
                label,
                fmt(d["rps"] if d else None, 0),
                fmt(f["rps"] if f else None, 0),
                fmt(r["rps"], 0),
                fmt(r["p50_ms"], 3),
                fmt(r["p99_ms"], 3),
                fmt(r.get("added_p50_ms"), 3),
                fmt(f.get("cpu_us_per_req") if f else None, 0),
                fmt(r.get("cpu_us_per_req"), 0),
                fmt(own, 0),
                fmt(r.get("rss_mb"), 1),
            ]
        )
    streams = doc.get("extras", {}).get("streams")
    if streams and streams.get("open"):
        blank = ["-"] * 9
        lines.append([f"{streams['open']} open streams", *blank, fmt(streams["rss_open_mb"], 1)])
    if not lines:
        return "_Not measured in this run._"
    headers = ["concurrency", "direct req/s", "floor req/s", "plano req/s", "plano p50 ms"]
    headers += ["plano p99 ms", "added p50", "floor CPU us/req", "plano CPU us/req"]
    return md_table([*headers, "plano - floor", "plano RSS MB"], lines)


def _peers(doc: Mapping[str, Any]) -> str:
    targets = [r["target"] for r in _rows(doc, "peers-json-c50")]
    if not targets:
        return "_Not measured in this run._"
    plano = _row(doc, "peers-json-c50", "plano")
    plano_sse = _row(doc, "peers-sse-c50", "plano")
    peak = doc.get("extras", {}).get("peak_rss_mb", {})
    peak_names = {"plano": "plano-bare", "direct": "upstream"}
    lines = []
    for t in targets:
        c1 = _row(doc, "peers-json-c1", t)
        c50 = _row(doc, "peers-json-c50", t)
        sse = _row(doc, "peers-sse-c50", t)
        times = None
        if plano and c50 and c50["rps"] > 0 and t not in ("plano", "direct"):
            times = plano["rps"] / c50["rps"]
        sse_times = None
        if plano_sse and sse and sse["rps"] > 0 and t not in ("plano", "direct"):
            sse_times = plano_sse["rps"] / sse["rps"]
        lines.append(
            [
                f"**{t}**" if t == "plano" else t,
                fmt(c1["p50_ms"] if c1 else None, 3),
                fmt(c1.get("added_p50_ms") if c1 else None, 3),
                fmt(c1["p99_ms"] if c1 else None, 3),
                fmt(c50["rps"] if c50 else None, 0),
                fmt(c50["p99_ms"] if c50 else None, 2),
                fmt(c50.get("cpu_us_per_req") if c50 else None, 0),
                fmt(sse["rps"] if sse else None, 0),
                fmt(peak.get(peak_names.get(t, t)), 0),
                "-" if times is None else f"{times:.1f}x",
                "-" if sse_times is None else f"{sse_times:.1f}x",
            ]
        )
    headers = ["target", "c1 p50 ms", "c1 added p50", "c1 p99 ms", "c50 req/s", "c50 p99 ms"]
    headers += ["CPU us/req", "SSE c50 streams/s", "peak RSS MB", "plano is (JSON)", "(SSE)"]
    return md_table(headers, lines)


def _workers(doc: Mapping[str, Any]) -> str:
    rows = _rows(doc, "workers-json-c200")
    if not rows:
        return "_Not measured in this run._"
    w1 = _row(doc, "workers-json-c200", "plano-w1")
    lines = []
    for r in rows:
        scale = None
        if w1 and r["target"].startswith("plano-w") and w1["rps"] > 0:
            scale = r["rps"] / w1["rps"]
        lines.append(
            [
                r["target"],
                fmt(r["rps"], 0),
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                fmt(r.get("cpu_us_per_req"), 0),
                fmt(r.get("rss_mb"), 1),
                "-" if scale is None else f"{scale:.2f}x",
            ]
        )
    return md_table(["target", "req/s", "p50 ms", "p99 ms", "CPU us/req", "RSS MB", "vs 1"], lines)


STATE_HEADING = "## Where state lives: per-process memory, embedded SQLite, Redis + PostgreSQL"


def _state(state: Mapping[str, Any] | None) -> str:
    """``bench/state.py``'s run: req/s per state backend and workers, operations per request."""
    if not state:
        return "_Not measured: run `python -m bench.state`._"
    lines = []
    for r in state["rows"]:
        per = r["per_request"]
        redis = per.get("redis_commands")
        pg = per.get("pg_transactions")
        lines.append(
            [
                r["backend"],
                str(r["workers"]),
                fmt(r["rps"], 0),
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                "-" if r.get("vs_memory") is None else f"{r['vs_memory']:.2f}x",
                fmt(per.get("usage_batches_per_record"), 4),
                "-" if redis is None else fmt(redis, 4),
                "-" if pg is None else fmt(pg, 4),
                str(r["errors"]),
            ]
        )
    table = md_table(
        [
            "backend",
            "workers",
            "req/s",
            "p50 ms",
            "p99 ms",
            "vs memory",
            "usage-log writes / req",
            "Redis cmds / req",
            "PG transactions / req",
            "errors",
        ],
        lines,
    )
    return (
        f"Measured {state.get('generated_at', '-')} by `python -m bench.state` "
        f"([benchmarks/state.json](benchmarks/state.json)): {state.get('method', '')}. "
        '*memory*: `state: {path: ":memory:"}` (each process its own, as before shared '
        "state); *embedded*: no `state:` (SQLite `.plano/state.db`, and `.plano/hot.db` with "
        "two workers); *servers*: `state: {redis, postgres}`. Operations are counted by the "
        "servers (Redis `INFO commandstats`, PostgreSQL `pg_stat_database`) and the writers "
        "in one more run per target, alone, background work (the routing-health sync) "
        "included; [state.md](state.md) explains them.\n\n" + table
    )


def _big_prompt(doc: Mapping[str, Any]) -> str:
    """The agent-size prompt scenarios, with Plano's req/s as a share of the floor's."""
    table = _perf_table(doc, ["big-c1", "big-c50"])
    if table.startswith("_"):
        return table
    big = doc.get("extras", {}).get("big_prompt") or {}
    roles = ", ".join(f"{n} {r}" for r, n in big.get("roles", {}).items())
    tokens = big.get("tokens_o200k")
    what = (
        f"`big-*` send what a coding agent sends mid-session: {fmt(big.get('bytes'))} bytes of "
        f"JSON, {fmt(big.get('messages'))} messages ({roles}) and three tool definitions"
        + (f", {fmt(tokens)} tokens (o200k)" if tokens else "")
        + ". The text is generated Python source, tool calls and file reads "
        "(`agent_body` in `bench/agent.py`, the same bytes every run). Non-streaming, "
        "model gpt-4o-mini (128k-token window), bare config."
    )
    ratios = []
    for sc in ("big-c1", "big-c50"):
        r, f = _row(doc, sc, "plano"), _row(doc, sc, "floor")
        if r and f and f["rps"] > 0:
            ratios.append(f"{r['rps'] / f['rps']:.2f} at concurrency {r['concurrency']}")
    line = "Plano's req/s as a share of the floor's: " + "; ".join(ratios) + "."
    return "\n\n".join([what, table, line if ratios else ""]).strip()


def _stall(doc: Mapping[str, Any]) -> str:
    """/healthz latency idle and under each big-request load."""
    st = doc.get("extras", {}).get("stall")
    if not st:
        return "_Not measured in this run._"
    intro = (
        f"A separate client (`bench/probe.py`) sends `GET /healthz` every "
        f"{st.get('interval_ms', 10)} ms for {fmt(st.get('probe_s'), 1)} s to the one worker "
        "while the clients below push big requests through it (`plano-stall` config: bare, "
        "`max_request_body: 32MiB`, a `long-context` model with a 4M-token window so that big "
        "prompts are relayed, and a `no-usage` model whose provider streams the big answer "
        "without a usage chunk). A health check waits on the same event loop as the requests. "
        "Latency counts from each probe's due time: a stall of *t* ms counts for every probe "
        "due during it, as wrk's correction does."
    )
    lines = []
    entries = [("idle", None, st.get("idle"))]
    entries += [(r["title"], r, r["probe"]) for r in st.get("loads", {}).values()]
    for title, r, p in entries:
        if p is None:
            continue
        lines.append(
            [
                title,
                fmt(r["clients"]) if r else "-",
                fmt(r["requests"]) if r else "-",
                fmt(r["errors"]) if r else "-",
                fmt(r.get("request_p50_ms"), 0) if r else "-",
                fmt(p["p50_ms"], 2),
                fmt(p["p99_ms"], 2),
                fmt(p["max_ms"], 1),
                f"{fmt(p['over_50ms'])} of {fmt(p['probes'])}",
                fmt(r.get("gateway_cpu_cores"), 2) if r else "-",
            ]
        )
    headers = ["load", "clients", "requests", "errors", "request p50 ms", "healthz p50 ms"]
    headers += ["p99 ms", "max ms", "probes > 50 ms", "gateway CPU (cores)"]
    peak = st.get("gateway_peak_rss_mb")
    tail = f"Gateway peak RSS over the probe runs: {fmt(peak, 1)} MB." if peak else ""
    return "\n\n".join([intro, md_table(headers, lines), tail]).strip()


def _streams(doc: Mapping[str, Any]) -> str:
    s = doc.get("extras", {}).get("streams")
    if not s:
        return "_Not measured in this run._"
    items = [
        ("streams requested / open / failed", f"{s['requested']} / {s['open']} / {s['failed']}"),
        ("seconds to open them all", fmt(s.get("seconds_to_open"), 2)),
        ("gateway RSS before (MB)", fmt(s.get("rss_idle_mb"), 1)),
        ("gateway RSS with all open (MB)", fmt(s.get("rss_open_mb"), 1)),
        ("per open stream (KB)", fmt(s.get("kb_per_stream"), 1)),
        ("peak RSS, VmHWM (MB)", fmt(s.get("peak_rss_mb"), 1)),
        ("RSS after the clients left (MB)", fmt(s.get("rss_after_close_mb"), 1)),
        ("gateway CPU while relaying them (cores)", fmt(s.get("cpu_share_while_open"), 2)),
        ("upstream", s.get("upstream", "-")),
    ]
    return md_table(["figure", "value"], [[k, v] for k, v in items])


def _micro(doc: Mapping[str, Any]) -> str:
    m = doc.get("extras", {}).get("micro")
    if not m:
        return ""
    parts = []
    mem = m.get("memory")
    if mem:
        lines, prev = [], 0.0
        for step, rss in mem:
            lines.append([step, fmt(float(rss), 1), fmt(float(rss) - prev, 1) if prev else "-"])
            prev = float(rss)
        parts.append(
            "Where a worker's memory goes (RSS after each start-up step, fresh interpreter, "
            "`bench/micro.py`):\n\n" + md_table(["step", "RSS MB", "+MB"], lines)
        )
    flush = m.get("ledger_flush")
    if flush:
        interval = flush.get("interval_s", 0.5)
        parts.append(
            f"`Ledger.flush` (access log on, via {flush.get('sink', 'logging')}) holds the "
            f"event loop {flush['us_per_record']} us per record: {flush['flush_ms']} ms for the "
            f"{flush['records']} records that {interval:g} s of traffic at 1,500 req/s leaves "
            f"(it runs every {interval:g} s)."
        )
    return "\n\n".join(parts)


def _profile(doc: Mapping[str, Any]) -> str:
    prof = doc.get("extras", {}).get("profile")
    if not prof:
        return "_Not profiled in this run._"
    if "skipped" in prof:
        return f"_Skipped: {prof['skipped']}._"
    parts = []
    for kind, p in prof.items():
        if "error" in p:
            parts.append(f"**{kind}**: profiling failed: {p['error']}")
            continue
        links = f"[{p['text']}](benchmarks/{p['text']})"
        if p.get("svg"):
            links += f", flame graph [{p['svg']}](benchmarks/{p['svg']})"
        parts.append(f"**{kind}** (50 concurrent, {p['samples']} samples; {links})\n")
        self_rows = [[f"{s * 100:.1f}%", f"`{k}`"] for k, s in p["self_top"][:10]]
        frame = ("plano/cli.py", "plano/__main__.py", "plano/server/runner.py", "(plano)")
        incl = [
            [f"{s * 100:.1f}%", f"`{k}`"]
            for k, s in p["inclusive_top"]
            if "plano/" in k and not any(f in k for f in frame)
        ][:20]
        areas = ", ".join(f"{k} {s * 100:.0f}%" for k, s in p["areas"][:8])
        parts.append("Self time, top 10:\n\n" + md_table(["share", "function"], self_rows))
        parts.append(
            "Inclusive time of Plano's own functions (callees included):\n\n"
            + md_table(["share", "function"], incl)
        )
        parts.append(f"Self time by area: {areas}.")
    return "\n\n".join(parts)


def _overhead(doc: Mapping[str, Any]) -> str:
    rep = doc.get("extras", {}).get("self_reported_overhead_ms")
    if not rep:
        return ""
    lines = [[k, fmt(v["n"]), fmt(v["p50"], 3), fmt(v["p99"], 3)] for k, v in rep.items()]
    return (
        "The gateway's own `x-plano-overhead-ms` (time not spent waiting on the upstream) over "
        "its last 1,000 requests, read from `/plano/v1/usage`. It does not include the time "
        "in the kernel and in aiohttp before the handler runs and after it returns, so it is "
        "lower than the added latency measured from outside:\n\n"
        + md_table(["scenario", "requests", "p50 ms", "p99 ms"], lines)
    )


def _machine(doc: Mapping[str, Any]) -> str:
    m = doc.get("machine", {})
    v = doc.get("versions", {})
    s = doc.get("settings", {})
    items = [
        ("date", doc.get("generated_at", "-")),
        ("machine", f"{m.get('nproc')} cores, {m.get('cpu_model')}, {m.get('memory_gb')} GB"),
        ("kernel", m.get("kernel", "-")),
        ("pinning", _pinning(s)),
        (
            "method",
            f"{s.get('rounds')} rounds x {s.get('duration_s')} s per target, alternating; "
            f"load generator {s.get('load_generator')}; run took {s.get('runtime_s')} s",
        ),
    ]
    items += [(k, str(val) if val else "not installed") for k, val in v.items()]
    return md_table(["", ""], [[k, str(val)] for k, val in items])


def _pinning(s: Mapping[str, Any]) -> str:
    p = s.get("pinning", {})
    if not p or p.get("gateway_and_peers") is None:
        return "none (fewer than 2 cores)"
    return (
        f"gateway and peers on core {p['gateway_and_peers']}; wrk, upstream and clients on "
        f"core {p['load_and_upstream']} (workers scenario: gateways unpinned)"
    )


def _commands(doc: Mapping[str, Any]) -> str:
    cmds = doc.get("extras", {}).get("commands", {})
    lines = [f"{k}:\n    {v}" for k, v in cmds.items()]
    peers = [
        f"{p['name']}: {'available' if p['available'] else 'NOT available'} "
        f"({p.get('version') or '-'}): {p['note']}"
        for p in doc.get("peers", [])
    ]
    text = "```\n" + "\n".join(lines) + "\n```"
    if peers:
        text = "Peers: " + "; ".join(peers) + "\n\n" + text
    for name, cfg in doc.get("configs", {}).items():
        if name in ("plano-bare", "plano-realistic", "plano-stall", "litellm"):
            text += f"\n\n`{name}` config:\n\n```yaml\n{cfg.rstrip()}\n```"
    return text


def render_markdown(
    doc: Mapping[str, Any],
    notes: str | None = None,
    plots: Sequence[str] = (),
    state: Mapping[str, Any] | None = None,
) -> str:
    mode = doc.get("mode", "full")
    parts = [
        "# Benchmarks",
        f"Generated by `make bench` (`python -m bench.run`, mode: {mode}) on "
        f"{doc.get('generated_at', '-')}. Every figure below comes from "
        "[benchmarks/results.json](benchmarks/results.json); re-render with "
        "`python -m bench.run --render-only`.",
        "Setup: one gateway worker pinned to one core, a fast simulated OpenAI upstream "
        "(`bench/upstream.py`) and the load generator on the other core, usage and cost "
        "accounting on (always), access log on (the default `info` level). Every scenario "
        "alternates its targets round by round (direct, plano, direct, plano...); a figure is "
        "the median of its rounds and *added* is the median of the per-round differences "
        "against the direct call.",
        "## Targets",
        _targets(doc),
        "*other load*: cores kept busy by other users of the machine during a measurement "
        "(from `/proc/stat` minus this benchmark's own processes); the harness waits for it to "
        "drop below 0.3 cores before each round, within a budget.",
        "## Machine and versions",
        _machine(doc),
    ]
    if notes:
        parts += [notes.strip()]
    parts += [
        "## Non-streaming JSON: direct, aiohttp floor, and through the gateway",
        _perf_table(doc, ["json-c1", "json-c50", "json-c200"]),
        "## How it grows with concurrency (one worker)",
        "*floor* is a bare aiohttp relay (`bench/floor.py`: aiohttp server, one pooled "
        "aiohttp client session, no parsing, routing, accounting or logging) pinned like the "
        "gateway: the least an aiohttp gateway can cost on this machine. *plano - floor* is "
        "the CPU that Plano's own code adds per request.",
        _growth(doc),
        "## Streaming",
        "`sse-c50` is measured with wrk (latency = the whole stream); `ttft-*` with the "
        "dedicated stream client (`bench/clients.py`), which times the first content token.",
        _perf_table(doc, ["sse-c50", "ttft-c1", "ttft-c50"], ttft=True),
        "## Upstream with 20 ms latency (what users see)",
        _perf_table(doc, ["lat20-json-c1", "lat20-json-c50", "lat20-ttft-c1"], ttft=True),
        "## Config variants: realistic, bare, and bare without the access log",
        "`plano-realistic` has six providers on four upstream origins (one connection pool "
        "each), four aliases, extra headers, a default, a weighted model pool with a fallback, "
        "three routing rules and the `gateway:` section; requests name `fast`, which a rule "
        "sends to the pool (groq 3 : mistral 1, both priced by genai-prices). "
        "`plano-no-access-log` is the bare config with `gateway.log_level: warning`, which "
        "turns the batched access log off (usage and cost accounting stay on).",
        _perf_table(doc, ["realistic-json-c1", "realistic-json-c50"]),
        "## Peers in the same run",
        _peers(doc),
        _perf_table(doc, ["peers-json-c1", "peers-json-c50", "peers-sse-c50"]),
        "## Worker processes (one shared listening socket, a supervisor)",
        "Both gateways unpinned here (they share the two cores with wrk and the upstream).",
        _workers(doc),
        STATE_HEADING,
        _state(state),
        "## Big prompts: a coding agent's request",
        _big_prompt(doc),
        "## Event-loop stalls: /healthz while big requests go through",
        _stall(doc),
        "## Memory: concurrent open streams",
        _streams(doc),
        _micro(doc),
        "## Profile of the hot path",
        _profile(doc),
        _overhead(doc),
    ]
    if plots:
        parts += ["## Plots", "\n\n".join(f"![{Path(p).stem}](benchmarks/{p})" for p in plots)]
    failures = doc.get("extras", {}).get("failures", [])
    if failures:
        parts += ["## Failures in this run", "\n".join(f"- {f}" for f in failures)]
    waits = doc.get("extras", {}).get("settle_waits", [])
    if waits:
        lines = []
        for w in waits:
            after = w["after"].replace("round -1", "warm-up")
            lines.append([w["target"], after, fmt(w["seconds"], 1), str(w["status"])])
        parts += [
            "## Refusals after wrk cut its streams",
            "wrk ends each run by closing the streams in flight. These targets then refused "
            "requests until the time shown (probed with a non-stream request every 0.25 s):",
            md_table(["target", "after", "seconds", "last status"], lines),
        ]
    parts += ["## Commands and configs", _commands(doc)]
    return "\n\n".join(p for p in parts if p) + "\n"


def plot(doc: Mapping[str, Any], out: Path) -> list[str]:
    """PNG plots into ``out``; their file names (empty without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written: list[str] = []
    conc = [("json-c1", 1), ("json-c50", 50), ("json-c200", 200)]

    def series(target: str, key: str) -> tuple[list[int], list[float]]:
        xs, ys = [], []
        for sc, c in conc:
            r = _row(doc, sc, target)
            if r is not None and r.get(key) is not None:
                xs.append(c)
                ys.append(float(r[key]))
        return xs, ys

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for target, style in (("direct", "o--"), ("floor", "o:"), ("plano", "o-")):
        axes[0].plot(*series(target, "rps"), style, label=target)
        axes[1].plot(*series(target, "p50_ms"), style, label=f"{target} p50")
        axes[1].plot(*series(target, "p99_ms"), style, alpha=0.5, label=f"{target} p99")
    axes[2].plot(*series("plano", "cpu_us_per_req"), "o-", label="plano")
    axes[2].plot(*series("floor", "cpu_us_per_req"), "o:", label="aiohttp floor")
    for peer in ("litellm", "portkey"):
        for sc, c in (("peers-json-c1", 1), ("peers-json-c50", 50)):
            r = _row(doc, sc, peer)
            if r is not None:
                axes[0].plot([c], [r["rps"]], "s", label=f"{peer} c{c}")
    axes[0].set(title="Throughput (JSON)", xlabel="concurrency", ylabel="req/s", xscale="log")
    axes[0].set_yscale("log")
    axes[1].set(title="Latency (JSON)", xlabel="concurrency", ylabel="ms", xscale="log")
    axes[1].set_yscale("log")
    axes[2].set(title="Gateway CPU per request", xlabel="concurrency", ylabel="us", xscale="log")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "throughput-latency.png", dpi=110)
    plt.close(fig)
    written.append("throughput-latency.png")

    peers = [r for r in _rows(doc, "peers-json-c50")]
    if peers:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        names = [r["target"] for r in peers]
        axes[0].bar(names, [r["rps"] for r in peers], color="tab:blue")
        axes[0].set(title="req/s, JSON, concurrency 50 (log)", yscale="log")
        c1 = [_row(doc, "peers-json-c1", n) for n in names]
        axes[1].bar(names, [r["p50_ms"] if r else 0 for r in c1], color="tab:orange")
        axes[1].set(title="p50 ms, JSON, concurrency 1 (log)", yscale="log")
        sse = [_row(doc, "peers-sse-c50", n) for n in names]
        axes[2].bar(names, [r["rps"] if r else 0 for r in sse], color="tab:green")
        axes[2].set(title="streams/s, SSE, concurrency 50 (log)", yscale="log")
        for i, r in enumerate(sse):
            if r is not None and r["rps"] <= 0 and r["errors"]:
                axes[2].text(i, 1.0, "all failed", ha="center", va="bottom", fontsize=8)
        for ax in axes:
            ax.grid(True, axis="y", alpha=0.3)
            for container in ax.containers:
                ax.bar_label(container, fmt="%.3g", fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "peers.png", dpi=110)
        plt.close(fig)
        written.append("peers.png")

    mem_x: list[str] = []
    mem_y: list[float] = []
    for sc, label in (("json-c1", "c1"), ("json-c50", "c50"), ("json-c200", "c200")):
        r = _row(doc, sc, "plano")
        if r is not None and r.get("rss_mb") is not None:
            mem_x.append(label)
            mem_y.append(float(r["rss_mb"]))
    streams = doc.get("extras", {}).get("streams")
    if streams and streams.get("open"):
        mem_x += ["fresh", f"{streams['open']} streams"]
        mem_y += [float(streams["rss_idle_mb"]), float(streams["rss_open_mb"])]
        if streams.get("rss_after_close_mb") is not None:
            mem_x.append("after cut")
            mem_y.append(float(streams["rss_after_close_mb"]))
    workers = [r for r in _rows(doc, "workers-json-c200") if r["target"] != "direct"]
    if mem_x or workers:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        axes[0].bar(mem_x, mem_y, color="tab:purple")
        axes[0].axhline(150, color="red", linestyle="--", linewidth=1, label="150 MB target")
        axes[0].set(title="Gateway RSS (MB), one worker: after JSON runs; streams", ylabel="MB")
        axes[0].legend(fontsize=7)
        if workers:
            axes[1].bar([r["target"] for r in workers], [r["rps"] for r in workers])
            axes[1].set(title="req/s, JSON c200, by worker processes (unpinned)")
        for ax in axes:
            ax.grid(True, axis="y", alpha=0.3)
            for container in ax.containers:
                ax.bar_label(container, fmt="%.0f", fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "memory-workers.png", dpi=110)
        plt.close(fig)
        written.append("memory-workers.png")
    return written


def write_report(doc: Mapping[str, Any], out: Path, md_path: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots = plot(doc, out)
    notes_file = out / "notes.md"
    notes = notes_file.read_text() if notes_file.exists() else None
    state_file = out / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    text = render_markdown(doc, notes, plots, state)
    governance_file = out / "governance.json"
    if governance_file.exists():  # bench/governance.py's section (imported here: no cycle)
        from bench.governance import HEADING, render
        from bench.state import splice

        text = splice(text, HEADING, render(json.loads(governance_file.read_text())))
    metrics_file = out / "metrics.json"
    if metrics_file.exists():  # bench/metrics_cost.py's section
        from bench import metrics_cost
        from bench.state import splice as splice_section

        section = metrics_cost.render_doc(json.loads(metrics_file.read_text()))
        text = splice_section(text, metrics_cost.HEADING, section)
    if md_path.parent != out.parent:
        # A report written next to its results (smoke runs): links are relative to it.
        text = text.replace("](benchmarks/", "](")
    md_path.write_text(text)
