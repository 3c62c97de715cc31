"""Profiling the gateway under load with py-spy, and summarising its collapsed stacks.

py-spy's ``raw`` format is one line per distinct stack: ``frame;frame;...;leaf COUNT`` with
frames like ``handle (plano/server/gateway.py:123)``. :func:`summarise` turns that into the
functions that cost most, by self time (the leaf) and by inclusive time (anywhere on the stack).
"""

from __future__ import annotations

import concurrent.futures as cf
import re
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "IDLE_LEAVES",
    "ProfileSummary",
    "frame_key",
    "parse_collapsed",
    "record_parallel",
    "render_summary",
    "summarise",
    "summarise_profile",
]

#: Leaf frames of threads that are parked, not working (py-spy cannot always tell).
IDLE_LEAVES = frozenset(
    {
        "_worker (concurrent/futures/thread.py)",
        "wait (threading.py)",
        "_wait_for_tstate_lock (threading.py)",
        "select (selectors.py)",
    }
)

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def frame_key(frame: str) -> str:
    """``func (file)``: a frame without its line number, so samples add up per function."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    return f"{m.group('func')} ({m.group('file')})"


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """Stacks (root first) with their sample counts; malformed lines are skipped."""
    out: list[tuple[list[str], int]] = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out.append((stack.split(";"), int(count)))
    return out


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    samples: int
    #: (function, share of samples) where the function itself was running.
    self_top: list[tuple[str, float]]
    #: (function, share of samples) with the function anywhere on the stack.
    inclusive_top: list[tuple[str, float]]
    #: Share of samples per area of the code (plano module, aiohttp, asyncio/uvloop, ...).
    areas: list[tuple[str, float]]


def _area(key: str) -> str:
    m = re.search(r"\(([^()]+)\)$", key)
    path = m.group(1) if m else key
    if "plano/" in path:
        parts = path.split("plano/", 1)[1].split("/")
        return "plano." + parts[0].removesuffix(".py")
    for lib in ("aiohttp", "multidict", "yarl", "orjson", "asyncio", "uvloop", "logging"):
        if f"{lib}/" in path or path.startswith(lib):
            return lib
    return "other"


def summarise(stacks: list[tuple[list[str], int]], top: int = 15) -> ProfileSummary:
    """Self and inclusive shares per function; idle samples (empty stacks, parked threads)
    are dropped."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    area_c: Counter[str] = Counter()
    total = 0
    for frames, n in stacks:
        keys = [frame_key(f) for f in frames if f.strip()]
        # py-spy prefixes a thread/process frame; a stack that is only that is idle.
        keys = [k for k in keys if not k.startswith(("process ", "thread "))]
        if not keys or keys[-1] in IDLE_LEAVES:
            continue
        total += n
        self_c[keys[-1]] += n
        area_c[_area(keys[-1])] += n
        for k in set(keys):
            incl[k] += n
    if total == 0:
        return ProfileSummary(0, [], [], [])

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, v / total) for k, v in c.most_common(top)]

    return ProfileSummary(total, share(self_c), share(incl), share(area_c))


def render_summary(s: ProfileSummary, title: str) -> str:
    lines = [f"# {title}", f"# {s.samples} samples (py-spy, idle samples dropped)", ""]
    lines.append("## self time (the function itself was running)")
    lines += [f"{share * 100:6.1f}%  {k}" for k, share in s.self_top]
    lines += ["", "## inclusive time (the function was on the stack)"]
    lines += [f"{share * 100:6.1f}%  {k}" for k, share in s.inclusive_top]
    lines += ["", "## self time by area"]
    lines += [f"{share * 100:6.1f}%  {k}" for k, share in s.areas]
    return "\n".join(lines) + "\n"


def record(
    py_spy: Sequence[str], pid: int, seconds: float, out: Path, fmt: str, rate: int = 250
) -> str | None:
    """Run ``py-spy record`` (``py_spy``: the command prefix, e.g. under taskset); an error
    message on failure, else None."""
    cmd = [*py_spy, "record", "--pid", str(pid), "--duration", str(int(max(seconds, 1)))]
    # Blocking sampling (the default): whole stacks; --nonblocking tears many of them.
    cmd += ["--rate", str(rate), "--format", fmt, "--output", str(out), "--subprocesses"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"py-spy failed: {exc}"
    if proc.returncode != 0:
        return f"py-spy exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return None


def summarise_profile(collapsed: Path, text_out: Path, kind: str) -> dict[str, Any]:
    """Summarise py-spy's collapsed stacks into ``text_out``; the summary for results.json."""
    summary = summarise(parse_collapsed(collapsed.read_text()), top=60)
    text_out.write_text(render_summary(summary, f"plano hot path, 50 concurrent {kind}"))
    return {
        "samples": summary.samples,
        "self_top": summary.self_top[:25],
        "inclusive_top": summary.inclusive_top,
        "areas": summary.areas,
    }


def record_parallel(calls: list[tuple[list[str], int, float, Path, str]]) -> list[str | None]:
    """py-spy recordings side by side (same load, same seconds)."""
    with cf.ThreadPoolExecutor(len(calls)) as ex:
        futures = [ex.submit(record, *c) for c in calls]
        return [f.result() for f in futures]
