"""What the feature-cost benches (``bench.governance``, ``bench.metrics_cost``,
``bench.tracing_cost``) share: their flags, the simulated upstream and ``plano up`` targets
they start, the head of their results document and how the results are written."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bench.install import log
from bench.procs import Proc, free_port, wait_http
from bench.state import splice

__all__ = [
    "ROOT",
    "Starter",
    "cost_parser",
    "errors_of",
    "render_again",
    "results_head",
    "start_plano",
    "start_upstream",
    "write_results",
    "write_section",
]

ROOT = Path(__file__).resolve().parent.parent

Render = Callable[[dict[str, Any]], str]


class Starter(Protocol):
    """What of ``bench.governance.Run`` starting processes takes (no import of it:
    ``governance`` imports this module)."""

    gw_cpu: str | None
    load_cpu: str | None
    configs: dict[str, str]

    def start(self, name: str, cmd: list[str], port: int, cpus: str | None, cwd: Path) -> Proc: ...


def cost_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """``--seconds --rounds --warmup --smoke --no-render --render-only``."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--smoke", action="store_true", help="seconds-long harness check")
    p.add_argument("--no-render", action="store_true", help="leave the report alone")
    p.add_argument("--render-only", action="store_true", help="render the last results again")
    return p


def start_upstream(run: Starter) -> int:
    """The simulated upstream (``bench.upstream``) on the load core; its port."""
    up = free_port()
    run.start("upstream", [sys.executable, "-m", "bench.upstream", "--port", str(up)], up,
              run.load_cpu, ROOT)  # fmt: skip
    return up


def start_plano(
    run: Starter, work: Path, name: str, config: Callable[[int], str]
) -> tuple[Proc, int]:
    """``plano up`` with one worker on the gateway core, serving ``config(port)`` from a
    fresh directory under ``work``; the process and its port."""
    port = free_port()
    cwd = work / name.replace("+", "-")
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir(parents=True)
    text = config(port)
    run.configs[name] = text
    (cwd / "config.yaml").write_text(text)
    cmd = [sys.executable, "-m", "plano", "up", "config.yaml", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    proc = run.start(f"plano-{name}", cmd, port, run.gw_cpu, cwd)
    wait_http(port, "/healthz", 30)
    return proc, port


def results_head(a: argparse.Namespace, method: str) -> dict[str, Any]:
    """When, smoke or full, and how (``method`` goes on after the rounds and wrk)."""
    return {
        "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "smoke" if a.smoke else "full",
        "method": f"{a.rounds} rounds x {a.seconds:g} s per target, alternating; wrk, {method}",
    }


def errors_of(doc: dict[str, Any]) -> int:
    """Failed requests over every row of every body."""
    return sum(r["errors"] for rows in doc["rows"].values() for r in rows)


def write_section(text: str, doc_path: Path | None, heading: str) -> None:
    """Print the report's section and put it under ``heading`` in ``doc_path``."""
    print(text)
    if doc_path is not None and doc_path.exists():
        doc_path.write_text(splice(doc_path.read_text(), heading, text))
        log(f"wrote its section of {doc_path}")


def write_results(
    doc: dict[str, Any], out: Path, render: Render, doc_path: Path | None, heading: str
) -> None:
    """The results to ``out`` (JSON), then their section of the report (``doc_path``:
    ``None`` leaves it alone)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out}")
    write_section(render(doc), doc_path, heading)


def render_again(out: Path, render: Render, doc_path: Path, heading: str) -> int:
    """``--render-only``: the section again from the last results."""
    text = render(json.loads(out.read_text()))
    doc_path.write_text(splice(doc_path.read_text(), heading, text))
    print(text)
    return 0
