"""Heavy requests: what big prompts and big answers cost the gateway.

* **Big prompts** (scenarios ``big-c1`` and ``big-c50``): a coding agent's request of ~178 KB
  (:func:`bench.scenarios.agent_body`: system prompt, tools, 60 turns of code), non-streaming,
  against ``direct``, the aiohttp ``floor`` and ``plano`` with the bare config (gpt-4o-mini,
  128k-token window). The target is Plano's req/s as a share of the floor's in the same run.
* **Stall probe**: ``/healthz`` is probed every 10 ms (:mod:`bench.probe`, its own process)
  while a few clients push big requests through one worker: (a) 10 MiB prompts, (b) 20 MiB
  streamed answers from a provider that reports no usage. A health check waits on the same
  event loop as the requests, so its latency is how long the loop was held. Target: p99 below
  50 ms under each load.

Both run in ``python -m bench.run`` (group ``heavy``, last; a short form in ``--smoke``), or
alone: ``python -m bench.heavy [--smoke] [--only big|stall]``, into ``bench/.work/heavy/``.
Each part starts its own upstream, floor and gateways, so nothing else measured in a run
shares a process with these requests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bench.agent import agent_body
from bench.clients import body_args
from bench.install import BENCH_DIR, log
from bench.procs import Endpoint, cpu_seconds, free_port, hwm_mb, pinned, raise_nofile
from bench.scenarios import SCENARIOS, bare_config, heavy_config, request_body

if TYPE_CHECKING:
    from bench.run import Bench

__all__ = ["StallLoad", "main", "run_big", "run_heavy", "run_stall", "smoke_problems"]

ROOT = BENCH_DIR.parent
BODIES = BENCH_DIR / ".work" / "bodies"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StallLoad:
    """One load under which /healthz is probed."""

    key: str
    title: str
    #: Model in :func:`bench.scenarios.heavy_config`: ``long-context`` or ``no-usage``.
    model: str
    stream: bool
    clients: int
    #: Size of the prompt (0: the small two-message one) and of the streamed answer.
    prompt_bytes: int = 0
    answer_bytes: int = 0


def stall_loads(smoke: bool) -> tuple[StallLoad, StallLoad]:
    """(a) big prompts, (b) big streamed answers without usage; small numbers in smoke runs."""
    prompt, answer, clients = (1 * MIB, 2 * MIB, 1) if smoke else (10 * MIB, 20 * MIB, 2)
    return (
        StallLoad(
            "prompt",
            f"{prompt // MIB} MiB prompts, non-streaming",
            "long-context",
            False,
            clients,
            prompt_bytes=prompt,
        ),
        StallLoad(
            "stream",
            f"{answer // MIB} MiB streamed answers, no usage from the provider",
            "no-usage",
            True,
            clients,
            answer_bytes=answer,
        ),
    )


def run_heavy(b: Bench, parts: tuple[str, ...] = ("big", "stall")) -> None:
    """Both measurements on their own upstream (one failing does not stop the other)."""
    up, ports = b.upstream("upstream-heavy")
    direct = Endpoint("direct", ports[0], proc=up)
    try:
        for part, fn in (("big", run_big), ("stall", run_stall)):
            if part in parts:
                try:
                    fn(b, direct)
                except Exception as exc:
                    b.failed(f"group heavy: {part}", exc)
    finally:
        b.stop("upstream-heavy")


def run_big(b: Bench, direct: Endpoint) -> None:
    """``big-c1`` and ``big-c50`` (``big-c50`` alone in smoke runs) against direct, floor and
    plano (bare config)."""
    gw = b.gateway(
        "plano-big", bare_config(0, direct.port).replace("port: 0\n", "port: __PORT__\n")
    )
    eps = {"direct": direct, "plano": Endpoint("plano", gw.port, proc=gw)}
    try:
        port = free_port()
        cmd = [sys.executable, "-m", "bench.floor", "--port", str(port)]
        cmd += ["--upstream", f"http://127.0.0.1:{direct.port}"]
        floor = b.start("floor-big", cmd, port, b.gw_cpu, cwd=ROOT)
        eps["floor"] = Endpoint("floor", port, proc=floor)
        b.extras["big_prompt"] = _describe(agent_body("gpt-4o-mini"))
        names = ("big-c50",) if b.o.smoke else ("big-c1", "big-c50")
        for sc in SCENARIOS:
            if sc.name in names:
                b.scenario(sc, eps)
    finally:
        b.stop("floor-big")
        b.stop("plano-big")


def _describe(body: bytes) -> dict[str, Any]:
    """Size and make-up of the agent request, and its tokens if tiktoken can count them here."""
    data = orjson.loads(body)
    roles: dict[str, int] = {}
    for m in data["messages"]:
        roles[m["role"]] = roles.get(m["role"], 0) + 1
    out: dict[str, Any] = {"bytes": len(body), "messages": len(data["messages"]), "roles": roles}
    try:
        import tiktoken

        from plano.accounting.tokens import TokenCounter

        TokenCounter().load()  # unpacks the encodings where tiktoken looks for them
        text = "".join(
            (m.get("content") or "")
            + "".join(c["function"]["arguments"] for c in m.get("tool_calls", []))
            for m in data["messages"]
        )
        out["chars"] = len(text)
        out["tokens_o200k"] = len(tiktoken.get_encoding("o200k_base").encode_ordinary(text))
    except Exception as exc:  # only a description: the measurement does not need it
        out["tokens_error"] = f"{type(exc).__name__}: {exc}"
    return out


def run_stall(b: Bench, direct: Endpoint) -> None:
    """Probe /healthz idle, then under each load; results in ``extras["stall"]``."""
    smoke = b.o.smoke
    seconds = 1.0 if smoke else 4.0
    loads = stall_loads(smoke)
    cfg = heavy_config(0, direct.port, loads[1].answer_bytes)
    gw = b.gateway("plano-stall", cfg.replace("port: 0\n", "port: __PORT__\n"))
    result: dict[str, Any] = {"interval_ms": 10, "probe_s": seconds, "loads": {}}
    b.extras["stall"] = result
    try:
        result["idle"] = _probe(b, gw.port, seconds)
        log(f"  stall idle: {_brief(result['idle'])}")
        for load in loads:
            try:
                result["loads"][load.key] = _under_load(b, gw.port, load, seconds)
            except Exception as exc:
                b.failed(f"stall probe under {load.title}", exc)
    finally:
        result["gateway_peak_rss_mb"] = round(hwm_mb(gw.pids()), 1)
        b.stop("plano-stall")


def _probe(b: Bench, port: int, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.probe", "--port", str(port), "--duration", f"{seconds:g}"]
    full = pinned(cmd, b.load_cpu)
    b.extras["commands"].setdefault("probe: /healthz", " ".join(full))
    p = subprocess.run(full, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"probe failed: {p.stderr.strip()[-800:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def _brief(p: Mapping[str, Any]) -> str:
    return (
        f"{p['probes']} probes, p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} "
        f"max {p['max_ms']:.1f} ms, {p['errors']} errors"
    )


def _under_load(b: Bench, port: int, load: StallLoad, seconds: float) -> dict[str, Any]:
    """Start the load's clients, probe once their requests are under way, let them finish."""
    if load.prompt_bytes:
        body = agent_body(load.model, load.stream, turns=1, min_bytes=load.prompt_bytes)
    else:
        body = request_body(load.model, load.stream)
    # One request first, so that what a worker does once (load an encoding, warm a pool) is
    # not counted as a stall; then the clients, and the probe once their requests are going.
    warm = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(warm, timeout=300) as resp:
        resp.read()
    lead = 0.2 if b.o.smoke else 0.5
    mode = "ttft" if load.stream else "load"
    cmd = [sys.executable, "-m", "bench.clients", mode, "--port", str(port)]
    cmd += body_args(body, BODIES / f"stall-{load.key}.json")
    cmd += ["--concurrency", str(load.clients), "--duration", f"{lead + seconds:g}"]
    full = pinned([*cmd, "--warmup", "0"], b.load_cpu)
    b.extras["commands"][f"load: stall {load.key}"] = " ".join(full)
    gw = b.procs["plano-stall"]
    client = subprocess.Popen(
        full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        time.sleep(lead)
        cpu0, t0 = cpu_seconds(gw.pids()), time.monotonic()
        probe = _probe(b, port, seconds)
        busy = (cpu_seconds(gw.pids()) - cpu0) / max(time.monotonic() - t0, 1e-6)
        out, err = client.communicate(timeout=300)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    if client.returncode != 0:
        raise RuntimeError(f"load client failed: {err.strip()[-800:]}")
    data = json.loads(out.strip().splitlines()[-1])
    res = {
        "title": load.title,
        "clients": load.clients,
        "request_bytes": len(body),
        "answer_bytes": load.answer_bytes or None,
        "requests": int(data["requests"]),
        "errors": int(data["errors"]),
        "statuses": data.get("statuses", {}),
        "request_p50_ms": data["p50_ms"],
        "gateway_cpu_cores": round(busy, 2),
        "probe": probe,
    }
    log(f"  stall {load.key}: {res['requests']} requests ({res['errors']} errors), {_brief(probe)}")
    return res


def smoke_problems(doc: Mapping[str, Any]) -> list[str]:
    """What makes a smoke run fail here: errors and loads that did nothing, not slowness."""
    stall = doc.get("extras", {}).get("stall")
    if stall is None:
        return []
    problems = []
    for key, res in stall.get("loads", {}).items():
        if res["errors"] or not res["requests"]:
            problems.append(f"stall {key}: {res['errors']} errors, {res['requests']} requests")
        if res["probe"]["errors"] or not res["probe"]["probes"]:
            problems.append(f"stall {key}: /healthz probe had {res['probe']['errors']} errors")
    if len(stall.get("loads", {})) < 2:
        problems.append("the stall probe did not run under both loads")
    return problems


def main(argv: list[str] | None = None) -> int:
    from bench.options import parse_args
    from bench.report import write_report
    from bench.run import Bench

    p = argparse.ArgumentParser(prog="python -m bench.heavy", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="seconds-long form (as in CI)")
    p.add_argument("--only", choices=["big", "stall"], help="one of the two measurements")
    p.add_argument("--rounds", type=int, help="rounds of the big-prompt scenarios (default 3)")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 4)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / ".work" / "heavy")
    a = p.parse_args(argv)
    base = ["--smoke"] if a.smoke else ["--no-peers", "--no-install"]
    base += [f"--rounds={a.rounds}"] if a.rounds else []
    base += [f"--duration={a.duration}"] if a.duration else []
    opts, _ = parse_args(base)
    opts.out, opts.doc, opts.groups = a.out, a.out / "benchmarks.md", {"heavy"}
    opts.out.mkdir(parents=True, exist_ok=True)
    bench = Bench(opts)
    bench.wrk = shutil.which("wrk")
    started = time.monotonic()
    nofile = raise_nofile(65536)
    try:
        run_heavy(bench, (a.only,) if a.only else ("big", "stall"))
    finally:
        bench.stop_all()
    doc = bench.document(started, nofile)
    (opts.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    write_report(doc, opts.out, opts.doc)
    for c in doc["targets"]:
        if c["met"] is not None:
            log(f"target {c['name']} ({c['goal']}): {c['value']:.3f} {c['unit']} -> {c['met']}")
    problems = list(doc["extras"]["failures"]) + smoke_problems(doc)
    for prob in problems:
        log(f"problem: {prob}")
    log(f"report: {opts.doc}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
