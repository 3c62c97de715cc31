"""``python -m bench.governance``: what policy and governance cost a request, each feature alone
and all of them together, against the bare aiohttp relay (``bench/floor.py``) in the same run.

Targets, each a ``plano up`` with one worker pinned to core 0 (wrk and the simulated upstream
on core 1), the bare config plus:

* ``auth``: ``auth:`` on, a dynamic virtual key made through the admin API at start-up and
  sent as ``Authorization: Bearer`` (read from the store once, then from the key cache), and
  the audit trail it implies (one ``allow`` decision per request, written off the request);
* ``policy``: the 10-rule Rego policy of ``bench/policy_micro.py`` (request and response phase);
* ``pii``: the ``pii`` filter, every kind, redacting the prompt;
* ``guard``: the ``injection_guard`` filter (rules and model, the last user message);
* ``budget``: one budget (dollars and tokens, never reached): a reserve and a settle;
* ``rate_limit``: one rate limit (requests and tokens, never reached): two window checks;
* ``all``: every one of the above at once;

and ``floor`` (the bare aiohttp relay) and ``bare`` (the bare config). Two request bodies:
``small``, the main bench's JSON request (``json-c50``'s), and ``prompt-2k``, the same with a
~2 KB user message (prose and JSON with PII values in it, from ``bench/pii_micro.py``). wrk,
non-streaming, concurrency 50; rounds alternate the targets; figures are medians of rounds.
Reported per target: req/s, its ratio to the floor's, the wall time per request it adds to
the bare config (``1/rps - 1/rps_bare``: one core, so time is CPU) and the gateway's own CPU
per request (``/proc``) minus the bare config's. Then, in process, the existing
micro-benchmarks' figures for the same features (policy, PII, guard, limits).

Results go to ``docs/benchmarks/governance.json`` and the report's section "Policy and
governance" (``docs/benchmarks.md``; ``make bench`` renders it too). ``--smoke`` is a
seconds-long pass (floor, bare and ``all`` only, small body, one round of 1 s, micro-benchmarks
small) into ``bench/.work/governance/`` that fails on errors; ``python -m bench.run --smoke``
runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench.common_cost import (
    errors_of,
    results_head,
    start_plano,
    start_upstream,
    write_section,
)
from bench.install import log
from bench.procs import (
    Proc,
    children_cpu_seconds,
    cpu_count,
    cpu_seconds,
    free_port,
    machine_busy_seconds,
)
from bench.scenarios import bare_config, request_body
from bench.wrk import lua_script, run_wrk

__all__ = ["FEATURES", "HEADING", "config_for", "main", "render"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "governance"
OUT = ROOT / "docs" / "benchmarks" / "governance.json"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Policy and governance"
COMMAND = "python -m bench.governance"

#: Each feature alone, in the order of the report's rows.
FEATURES = ("auth", "policy", "pii", "guard", "budget", "rate_limit")
TITLES = {
    "floor": "bare aiohttp relay (floor)",
    "bare": "plano, bare config",
    "auth": "auth (virtual key, cached) + audit",
    "policy": "10-rule Rego policy",
    "pii": "PII filter (redact)",
    "guard": "injection guard",
    "budget": "budget reserve + settle",
    "rate_limit": "rate-limit check",
    "all": "all of them together",
}

_PRINCIPAL = {"user": "alice", "team": "support", "tenant": "acme", "tags": ["prod"]}


def _policy_yaml() -> str:
    from bench.policy_micro import POLICY

    body = "".join(f"      {line}\n" if line else "\n" for line in POLICY.splitlines())
    return "policies:\n  - name: bench\n    rego: |\n" + body


def _limits_yaml(which: str) -> str:
    from bench.limits import LIMITS_YAML

    budgets, _sep, rates = LIMITS_YAML.partition("rate_limits:\n")
    return budgets if which == "budget" else "rate_limits:\n" + rates


def config_for(features: tuple[str, ...], port: int, upstream: int) -> str:
    """The bare config plus ``features`` (names of :data:`FEATURES`)."""
    text = bare_config(port, upstream)
    filters = [f for f in ("pii", "guard") if f in features]
    if filters:
        listener = "    timeout: 300s\n"
        text = text.replace(listener, listener + f"    input_filters: [{', '.join(filters)}]\n")
    if "auth" in features:
        text += "auth:\n  cache_ttl: 5s\n"
    if "policy" in features:
        text += _policy_yaml()
    if filters:
        text += "filters:\n"
        if "pii" in features:
            text += "  - id: pii\n    type: pii\n    options:\n      action: redact\n"
        if "guard" in features:
            text += "  - id: guard\n    type: injection_guard\n    options:\n      action: block\n"
    for limit in ("budget", "rate_limit"):
        if limit in features:
            text += _limits_yaml(limit)
    return text


def bodies() -> dict[str, bytes]:
    """The request bodies: the main bench's small JSON request, and the same with a ~2 KB
    user message (prose and JSON with PII values in it); each user message starts with
    :data:`MARK`, where every request gets its own number."""
    from bench.pii_micro import texts

    page = texts(8 * 1024)
    prompt = page["prose"][:1024] + page["json"][:1024]
    doc = orjson.loads(request_body("gpt-4o-mini", False))
    first = MARK.replace("@@N@@", "0")
    small = {
        **doc,
        "messages": [
            doc["messages"][0],
            {"role": "user", "content": first + doc["messages"][1]["content"]},
        ],
    }
    big = {**doc, "messages": [doc["messages"][0], {"role": "user", "content": first + prompt}]}
    return {"small": orjson.dumps(small), "prompt-2k": orjson.dumps(big)}


# ---------------------------------------------------------------- processes


@dataclass
class Target:
    name: str
    proc: Proc
    port: int
    #: The virtual key it is sent (targets with auth; each has a store of its own).
    key: str = ""
    rounds: dict[str, list[dict[str, float]]] = field(default_factory=dict)


class Run:
    def __init__(
        self, seconds: float, rounds: int, warmup: float, smoke: bool, quiet: float = 600.0
    ) -> None:
        self.seconds = seconds
        self.rounds = rounds
        self.warmup = warmup
        self.smoke = smoke
        two = cpu_count() >= 2
        self.gw_cpu: str | None = "0" if two else None
        self.load_cpu: str | None = "1" if two else None
        self.procs: list[Proc] = []
        #: Seconds the whole run may spend waiting for other users' load to pass.
        self.quiet_budget = 0.0 if smoke else quiet
        self.configs: dict[str, str] = {}
        self.commands: dict[str, str] = {}

    def start(self, name: str, cmd: list[str], port: int, cpus: str | None, cwd: Path) -> Proc:
        proc = Proc(name, cmd, WORK / "logs" / f"{name}.log", port, cwd=cwd, cpus=cpus)
        proc.log.unlink(missing_ok=True)
        proc.start(ready_timeout=90)
        self.procs.append(proc)
        self.commands[name] = proc.command
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def floor(self, upstream: int) -> Target:
        port = free_port()
        cmd = [sys.executable, "-m", "bench.floor", "--port", str(port)]
        cmd += ["--upstream", f"http://127.0.0.1:{upstream}"]
        return Target("floor", self.start("floor", cmd, port, self.gw_cpu, ROOT), port)

    def gateway(self, name: str, features: tuple[str, ...], upstream: int) -> Target:
        config = partial(config_for, features, upstream=upstream)
        proc, port = start_plano(self, WORK, name, config)
        return Target(name, proc, port, _make_key(port) if "auth" in features else "")

    def _ours(self) -> float:
        pids = [p for proc in self.procs for p in proc.pids()]
        return cpu_seconds(pids) + children_cpu_seconds() + time.process_time()

    def foreign_cores(self, window: float) -> float:
        """Cores busy with other users' work over ``window`` seconds (not this run's)."""
        ours0, busy0, t0 = self._ours(), machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        ours = self._ours() - ours0
        return max(machine_busy_seconds() - busy0 - ours, 0.0) / (time.monotonic() - t0)

    def wait_quiet(self) -> None:
        """On a shared machine, wait (up to a minute, within the run's budget) until others'
        load drops below 0.3 cores before a round, as ``bench/run.py`` does."""
        t0 = time.monotonic()
        while (
            self.quiet_budget > 0 and self.foreign_cores(0.5) > 0.3 and time.monotonic() - t0 < 60
        ):
            time.sleep(0.5)
        self.quiet_budget -= time.monotonic() - t0

    def wrk(self, t: Target, body: str, payload: bytes, seconds: float) -> dict[str, float]:
        script = WORK / "lua" / f"{body}-{t.name}.lua"
        script.parent.mkdir(parents=True, exist_ok=True)
        headers = {"Content-Type": "application/json"}
        if t.key:
            headers["Authorization"] = f"Bearer {t.key}"
        script.write_text(_varying(lua_script(payload, headers), payload))
        pids = t.proc.pids()
        cpu0, ours0 = cpu_seconds(pids), self._ours()
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        url = f"http://127.0.0.1:{t.port}/v1/chat/completions"
        res, cmd = run_wrk(url, script, 50, seconds, cpus=self.load_cpu)
        cpu = cpu_seconds(pids) - cpu0
        ours = self._ours() - ours0
        noise = max(machine_busy_seconds() - busy0 - ours, 0.0) / (time.monotonic() - t0)
        self.commands.setdefault(f"load: {body}", cmd.replace(str(t.port), "PORT"))
        return {
            "rps": res.rps,
            "p50_ms": res.p50_ms,
            "p99_ms": res.p99_ms,
            "n": res.requests,
            "errors": res.errors if res.requests else max(res.errors, 1),
            "cpu_us": cpu * 1e6 / res.requests if res.requests else 0.0,
            "noise_cores": noise,
        }

    def measure(self, targets: list[Target], body: str, payload: bytes) -> None:
        for t in targets:
            self.wrk(t, body, payload, self.warmup)
        for rnd in range(self.rounds):
            self.wait_quiet()
            for t in targets:
                r = self.wrk(t, body, payload, self.seconds)
                t.rounds.setdefault(body, []).append(r)
                log(
                    f"  governance {body:<9} {t.name:<10} r{rnd} {r['rps']:>8.1f} req/s "
                    f"cpu {r['cpu_us']:.0f} us/req"
                    + (f" errors {r['errors']}" if r["errors"] else "")
                    + (f" [other load {r['noise_cores']:.2f}]" if r["noise_cores"] >= 0.1 else "")
                )


#: Where each request's own number goes in the user message (see :func:`_varying`).
MARK = "(request @@N@@) "


def _varying(script: str, payload: bytes) -> str:
    """``script`` sending ``payload`` with a number of its own in each request, so that no
    cache (the PII detector keeps texts of 1 KB or more) answers a repeated prompt."""
    text = payload.decode()
    prefix, _sep, suffix = text.partition(MARK.replace("@@N@@", "0"))
    if not _sep:
        return script
    prefix += MARK.split("@@N@@")[0]
    suffix = MARK.split("@@N@@")[1] + suffix
    eq = "=" * 4
    return (
        script
        + f"local prefix = [{eq}[{prefix}]{eq}]\n"
        + f"local suffix = [{eq}[{suffix}]{eq}]\n"
        + "local n = 0\n"
        + "request = function()\n"
        + "  n = n + 1\n"
        + "  return wrk.format(nil, nil, nil, prefix .. n .. suffix)\n"
        + "end\n"
    )


def _admin(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=orjson.dumps(body) if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return orjson.loads(r.read())


def _make_key(port: int) -> str:
    """A dynamic key made through the admin API (loopback: no admin key needed); its
    plaintext."""
    made = _admin(port, "POST", "/plano/v1/keys", {"id": "bench", **_PRINCIPAL})
    return str(made["key"])


# ---------------------------------------------------------------- in process


def micro(smoke: bool) -> dict[str, float]:
    """The existing micro-benchmarks' figures for these features, µs per request."""
    from bench import guard_micro, limits, pii_micro, policy_micro
    from plano.guard.injection import InjectionGuard, default_model

    n, rounds = (200, 1) if smoke else (1000, 5)
    out: dict[str, float] = {}
    pol = asyncio.run(policy_micro._filter_figures(n, rounds))
    out["policy"] = pol["filter_request_us"] + pol["filter_response_us"]
    pii = pii_micro._request_ms(max(n // 50, 2), rounds)
    out["pii"] = pii["request_2kb_ms"] * 1e3
    guard = InjectionGuard(default_model())
    prompts = guard_micro.texts()
    out["guard"] = (
        guard_micro._fastest(partial(guard.check, [prompts["prompt (2 KB)"]]), n // 4, rounds) * 1e3
    )
    out["guard_small"] = (
        guard_micro._fastest(partial(guard.check, [prompts["question (50 B)"]]), n, rounds) * 1e3
    )
    lim = asyncio.run(limits._micro_backend(None, n, rounds))
    out["budget"] = lim["budget"]["us"]
    out["rate_limit"] = lim["rate_limit"]["us"]
    return {k: round(v, 1) for k, v in out.items()}


# ---------------------------------------------------------------- summary


Samples = dict[str, dict[str, list[dict[str, float]]]]


def samples_of(targets: list[Target]) -> Samples:
    """Every round's figures: body -> target -> rounds (what ``summary`` reads)."""
    return {body: {t.name: t.rounds[body] for t in targets} for body in targets[0].rounds}


def summary(samples: Samples) -> dict[str, Any]:
    """Per body, a row per target: medians of its rounds; its ratios are medians of the
    per-round ratios (each round measures every target in turn, so a ratio compares figures
    taken seconds apart). Two ratios to the floor: of req/s as measured, and of CPU per
    request (the floor's over the row's: what req/s would be on a core of its own, which
    holds better than req/s when other users' work takes turns on the same core)."""
    out: dict[str, Any] = {}
    for body, by_name in samples.items():
        floor, bare = by_name["floor"], by_name["bare"]
        rows = []
        for name, rs in by_name.items():
            # A round where a process answered nothing (starved by other load, or down)
            # says nothing of its cost: left out, its errors counted.
            trios = [
                (r, f, b)
                for r, f, b in zip(rs, floor, bare, strict=True)
                if min(r["rps"], f["rps"], b["rps"], r["cpu_us"], f["cpu_us"], b["cpu_us"]) > 0
            ]
            if not trios:
                continue
            own = name in ("floor", "bare")

            def med(values: Any) -> float:
                return float(statistics.median(values))

            rows.append(
                {
                    "target": name,
                    "rps": round(med(r["rps"] for r, _, _ in trios), 1),
                    "floor_rps": round(med(f["rps"] for _, f, _ in trios), 1),
                    "vs_floor": round(med(r["rps"] / f["rps"] for r, f, _ in trios), 3),
                    "vs_bare": round(med(r["rps"] / b["rps"] for r, _, b in trios), 3),
                    "cpu_us": round(med(r["cpu_us"] for r, _, _ in trios), 1),
                    "floor_cpu_us": round(med(f["cpu_us"] for _, f, _ in trios), 1),
                    "cpu_vs_floor": round(med(f["cpu_us"] / r["cpu_us"] for r, f, _ in trios), 3),
                    "added_us": None
                    if own
                    else round(med((1 / r["rps"] - 1 / b["rps"]) * 1e6 for r, _, b in trios), 1),
                    "added_cpu_us": None
                    if own
                    else round(med(r["cpu_us"] - b["cpu_us"] for r, _, b in trios), 1),
                    "p50_ms": round(med(r["p50_ms"] for r, _, _ in trios), 3),
                    "p99_ms": round(med(r["p99_ms"] for r, _, _ in trios), 3),
                    "errors": sum(int(r["errors"]) for r in rs),
                    "noise_cores": round(med(r["noise_cores"] for r, _, _ in trios), 2),
                    "rounds": len(trios),
                }
            )
        out[body] = rows
    return out


def target(rows: dict[str, Any]) -> dict[str, Any]:
    """Issue 11's target: with every feature on, at least half the floor's req/s on one core."""
    found = {b: next((r for r in rs if r["target"] == "all"), None) for b, rs in rows.items()}
    alls = {b: r for b, r in found.items() if r is not None}
    bares = {b: next(r for r in rows[b] if r["target"] == "bare") for b in alls}
    return {
        "goal": 0.5,
        "measured": "; ".join(
            f"{b}: {r['vs_floor']:.2f} by req/s, {r['cpu_vs_floor']:.2f} by CPU per request "
            f"(the bare config alone: {bares[b]['vs_floor']:.2f} and "
            f"{bares[b]['cpu_vs_floor']:.2f})"
            for b, r in alls.items()
        ),
        "met": {b: r["cpu_vs_floor"] >= 0.5 and r["vs_floor"] >= 0.5 for b, r in alls.items()},
    }


def render(doc: dict[str, Any]) -> str:
    micro_us = doc.get("micro", {})
    lines = [
        f"Measured {doc['generated_at']} by `{COMMAND}` "
        f"([benchmarks/governance.json](benchmarks/governance.json)): {doc['method']}. "
        "Each row is `plano up` (one worker, pinned to one core) with the bare config plus that "
        "feature; the floor (the bare aiohttp relay, `bench/floor.py`) and the bare config are "
        "measured in the same rounds, and every request carries a number of its own (no cache "
        "answers a repeated prompt). *vs floor*: the row's req/s over the floor's in the same "
        "round; *CPU vs floor*: the floor's CPU per request over the row's (the req/s ratio on "
        "a core of its own; steadier when other work shares the core); *added CPU*: the "
        "gateway's CPU per request (`/proc`) over the bare config's, i.e. what the feature "
        "costs each request; *in process*: the feature's own work as the existing "
        "micro-benchmarks measure it (`bench/policy_micro.py`: request phase plus response "
        "phase; `bench/pii_micro.py`: a 2 KB prompt; `bench/guard_micro.py`: a 50 B question "
        "and a 2 KB prompt; `bench/limits.py`: memory store). Ratios and medians of rounds; "
        "*other load*: cores kept busy by other users of the machine meanwhile.",
        "",
    ]
    goal = doc.get("target") or {}
    for body, rows in doc["rows"].items():
        title = {
            "small": "the main bench's small JSON request (`json-c50`)",
            "prompt-2k": "the same request with a ~2 KB user message (prose and JSON, "
            "PII values in it)",
        }.get(body, body)
        lines += [
            f"Body: {title}.",
            "",
            "| target | req/s | floor req/s | vs floor | vs bare | CPU µs/req | floor CPU µs/req "
            "| CPU vs floor | added CPU µs/req | in process µs | errors | other load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            name = r["target"]
            mic = _micro(micro_us, name, body)
            label = TITLES.get(name, name)
            if name == "all":
                label = f"**{label}**"
            lines.append(
                f"| {label} | {r['rps']:,.0f} | {r['floor_rps']:,.0f} | {r['vs_floor']:.2f} | "
                f"{r['vs_bare']:.2f} | {r['cpu_us']:,.0f} | {r['floor_cpu_us']:,.0f} | "
                f"{r['cpu_vs_floor']:.2f} | {_f(r['added_cpu_us'])} | {_f(mic)} | "
                f"{r['errors']} | {r['noise_cores']:.2f} |"
            )
        lines.append("")
    if goal:
        lines.append(
            f"Target (issue 11): with all of them on, at least {goal['goal']:.1f} of the floor's "
            f"req/s on one core. Measured: {goal['measured']}."
        )
        lines.append("")
    lines += [
        f"Reproduce: `{COMMAND}` (about {doc.get('runtime_s', 0) / 60:.0f} min here; "
        f"`--smoke` for a seconds-long check; `--render-only` re-renders this section from "
        f"the JSON).",
        "",
    ]
    return "\n".join(lines)


def _micro(micro_us: dict[str, float], name: str, body: str) -> float | None:
    """The in-process figure that matches a row (``None`` where there is none)."""
    if name == "guard":
        return micro_us.get("guard_small" if body == "small" else "guard")
    if name == "pii":
        return micro_us.get("pii") if body != "small" else None  # measured on 2 KB
    if name == "all" and body != "small" and micro_us:
        return sum(micro_us.get(f, 0.0) for f in ("policy", "pii", "guard", "budget", "rate_limit"))
    return micro_us.get(name)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"{COMMAND}", description=__doc__)
    p.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--smoke", action="store_true", help="seconds-long harness check")
    p.add_argument(
        "--quiet-budget",
        type=float,
        default=600.0,
        help="seconds the run may wait, in all, for other users' load to pass",
    )
    p.add_argument("--no-micro", action="store_true", help="skip the in-process figures")
    p.add_argument("--only", help="targets, comma-separated (floor and bare always run)")
    p.add_argument("--out", type=Path)
    p.add_argument("--doc", type=Path)
    p.add_argument("--no-render", action="store_true", help="leave the report alone")
    p.add_argument(
        "--render-only", action="store_true", help="re-render the section from OUT (its samples)"
    )
    a = p.parse_args(argv)
    if a.smoke:
        a.seconds, a.rounds, a.warmup = 1.0, 1, 1.0
    out = a.out or (WORK / "smoke" / "governance.json" if a.smoke else OUT)
    doc_path = a.doc or (None if a.smoke else DOC)
    if a.render_only:
        doc = json.loads(out.read_text())
        doc["rows"] = summary(doc["samples"])
        doc["target"] = target(doc["rows"])
        out.write_text(json.dumps(doc, indent=1) + "\n")
        _write_section(doc, doc_path)
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what was started
    names = ["all"] if a.smoke else [*FEATURES, "all"]
    if a.only:
        names = [n for n in a.only.split(",") if n in (*FEATURES, "all")]
    started = time.monotonic()
    run = Run(a.seconds, a.rounds, a.warmup, a.smoke, a.quiet_budget)
    payloads = bodies()
    if a.smoke:
        payloads = {"small": payloads["small"]}
    try:
        up = start_upstream(run)
        targets = [run.floor(up), run.gateway("bare", (), up)]
        for name in names:
            feats = FEATURES if name == "all" else (name,)
            targets.append(run.gateway(name, feats, up))
        for body, payload in payloads.items():
            run.measure(targets, body, payload)
    finally:
        run.close()
    samples = samples_of(targets)
    doc: dict[str, Any] = {
        **results_head(
            a,
            f"non-streaming JSON, concurrency 50; gateways and floor on core "
            f"{run.gw_cpu}, wrk and the upstream on core {run.load_cpu}",
        ),
        "rows": summary(samples),
        "samples": samples,
        "configs": run.configs,
        "commands": run.commands,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")  # the samples, should the rest fail
    if not a.no_micro:
        doc["micro"] = micro(a.smoke)
    doc["target"] = target(doc["rows"])
    doc["runtime_s"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out}")
    if not a.no_render:
        _write_section(doc, doc_path)
    errors = errors_of(doc)
    if a.smoke and errors:
        log(f"smoke: {errors} errors")
        return 1
    return 0


def _write_section(doc: dict[str, Any], doc_path: Path | None) -> None:
    write_section(render(doc), doc_path, HEADING)


if __name__ == "__main__":
    raise SystemExit(main())
