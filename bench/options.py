"""``python -m bench.run``'s options: the command line, and what ``--smoke`` and ``--quick``
set."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GROUPS", "Options", "parse_args"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
DOCS = ROOT / "docs"


@dataclass
class Options:
    smoke: bool
    rounds: int
    duration: float
    warmup: float
    streams: int
    profile_s: float
    peers: bool
    install: bool
    groups: set[str]
    out: Path
    doc: Path | None


GROUPS = {
    "core",
    "profile",
    "memory",
    "lat20",
    "realistic",
    "peers",
    "workers",
    "governance",
    "metrics",
    "heavy",
}


def parse_args(argv: list[str] | None, description: str | None = None) -> tuple[Options, bool]:
    """The options, and whether only to re-render the report from results.json."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=description)
    p.add_argument("--smoke", action="store_true", help="seconds-long harness check (CI)")
    p.add_argument("--quick", action="store_true", help="2 rounds of 3 s (about half the time)")
    p.add_argument("--rounds", type=int, help="rounds per scenario (default 3)")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 4)")
    p.add_argument("--streams", type=int, help="concurrent streams held open (default 1000)")
    p.add_argument("--no-peers", action="store_true", help="skip LiteLLM and Portkey")
    p.add_argument("--no-install", action="store_true", help="install nothing")
    p.add_argument("--only", help=f"groups to run, comma-separated ({','.join(sorted(GROUPS))})")
    p.add_argument("--out", type=Path, help="results directory (default docs/benchmarks)")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="re-render the report and plots from OUT/results.json",
    )
    a = p.parse_args(argv)
    groups = set(a.only.split(",")) if a.only else set(GROUPS)
    unknown = groups - GROUPS
    if unknown:
        p.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    groups.add("core")
    if a.smoke:
        out = a.out or WORK / "smoke"
        smoke = Options(True, 1, 1.0, 0.5, a.streams or 20, 0, False, False, groups, out, None)
        return smoke, False
    out = a.out or DOCS / "benchmarks"
    opts = Options(
        smoke=False,
        rounds=a.rounds or (2 if a.quick else 3),
        duration=a.duration or (3.0 if a.quick else 4.0),
        warmup=1.0,
        streams=a.streams or 1000,
        profile_s=4.0 if a.quick else 6.0,
        peers=not a.no_peers and "peers" in groups,
        install=not a.no_install,
        groups=groups,
        out=out,
        doc=out.parent / "benchmarks.md" if out.name == "benchmarks" else out / "benchmarks.md",
    )
    return opts, bool(a.render_only)
