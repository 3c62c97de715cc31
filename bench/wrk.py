"""wrk as the load generator: a Lua script for POST bodies that prints its summary as JSON, and
a parser for that line (or, failing it, wrk's usual text report)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pinned

__all__ = ["WrkResult", "lua_script", "parse_duration_ms", "parse_wrk", "run_wrk", "wrk_version"]

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%.1f,"bytes":%.1f,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"mean_us":%.2f,"stdev_us":%.2f,"max_us":%.1f,' ..
    '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.stdev, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
"""


def lua_script(body: bytes, headers: Mapping[str, str]) -> str:
    """A wrk script that POSTs ``body`` with ``headers`` and ends with a ``WRK_JSON`` line."""
    text = body.decode()
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    lines = ['wrk.method = "POST"', f"wrk.body = [{eq}[{text}]{eq}]"]
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    return "\n".join(lines) + "\n" + _DONE


@dataclass(frozen=True, slots=True)
class WrkResult:
    #: Answers wrk completed, errors included.
    requests: int
    duration_s: float
    #: Successful (2xx/3xx) answers per second.
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float | None
    mean_ms: float
    max_ms: float
    #: Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
    errors: int
    non2xx: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_duration_ms(text: str) -> float:
    """wrk's ``595.00us`` / ``15.64ms`` / ``1.20s`` / ``2.00m`` as milliseconds."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s|m|h)\s*", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def _from_json(data: Mapping[str, float]) -> WrkResult:
    duration = float(data["duration_us"]) / 1e6
    requests = int(data["requests"])
    socket_errors = sum(int(data[k]) for k in ("connect", "read", "write", "timeout"))
    ok = requests - int(data["status"])
    return WrkResult(
        requests=requests,
        duration_s=duration,
        rps=ok / duration if duration > 0 else 0.0,
        p50_ms=float(data["p50_us"]) / 1000,
        p90_ms=float(data["p90_us"]) / 1000,
        p99_ms=float(data["p99_us"]) / 1000,
        p999_ms=float(data["p999_us"]) / 1000,
        mean_ms=float(data["mean_us"]) / 1000,
        max_ms=float(data["max_us"]) / 1000,
        errors=socket_errors + int(data["status"]),
        non2xx=int(data["status"]),
    )


def _from_text(out: str) -> WrkResult:
    m = re.search(r"(\d+) requests in ([0-9.]+\s*(?:us|ms|s|m|h))", out)
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if m is None or rps is None:
        raise ValueError("wrk output has no summary (did it fail to connect?)")
    pct = {p: parse_duration_ms(v) for p, v in re.findall(r"^\s*(\d+)%\s+(\S+)\s*$", out, re.M)}
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
    mean = parse_duration_ms(lat.group(1)) if lat else 0.0
    requests = int(m.group(1))
    return WrkResult(
        requests=requests,
        duration_s=parse_duration_ms(m.group(2)) / 1000,
        rps=float(rps.group(1)) * (requests - bad) / requests if requests else 0.0,
        p50_ms=pct.get("50", mean),
        p90_ms=pct.get("90", mean),
        p99_ms=pct.get("99", mean),
        p999_ms=None,
        mean_ms=mean,
        max_ms=parse_duration_ms(lat.group(3)) if lat else 0.0,
        errors=socket_errors + bad,
        non2xx=bad,
    )


def parse_wrk(out: str) -> WrkResult:
    """The ``WRK_JSON`` line of :func:`lua_script`, else wrk's text report (``--latency``)."""
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            return _from_json(json.loads(line[len("WRK_JSON ") :]))
    return _from_text(out)


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    duration_s: float,
    *,
    threads: int = 1,
    cpus: str | None = None,
    timeout_s: float = 10.0,
) -> tuple[WrkResult, str]:
    """Run wrk once; the parsed result and the exact command line."""
    seconds = max(1, round(duration_s))  # wrk takes whole seconds
    cmd = ["wrk", f"-t{threads}", f"-c{max(connections, threads)}", f"-d{seconds}s"]
    cmd += [f"--timeout={timeout_s:g}s", "--latency", "-s", str(script), url]
    full = pinned(cmd, cpus)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=duration_s + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return parse_wrk(proc.stdout), " ".join(full)
