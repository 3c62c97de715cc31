"""Processes under test: start (pinned to cores), wait until they listen, read their CPU time
and memory from ``/proc``, and stop them by their own process group.

Every process is started in a new session, so its process group id is its pid: stopping it
signals that group only (its worker children included), never anything matched by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Endpoint",
    "Proc",
    "children_cpu_seconds",
    "cpu_count",
    "cpu_seconds",
    "free_port",
    "hwm_mb",
    "machine_busy_seconds",
    "pinned",
    "process_tree",
    "raise_nofile",
    "rss_mb",
    "trim_log",
    "wait_http",
    "wait_port",
]

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int = 65536) -> int:
    """Raise the open-file limit (inherited by children) as far as allowed; the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """``cmd`` run under ``taskset -c CPUS`` when asked and available (taskset execs: same pid)."""
    if cpus and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpus, *cmd]
    return list(cmd)


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after its end.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is not None:
            children.setdefault(int(f[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f is not None:
            ticks += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``), for the noise estimate."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0
    ticks = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def children_cpu_seconds() -> float:
    """CPU time of this process's finished, waited-for children (wrk, the clients)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pids: Sequence[int]) -> float:
    return sum(_status_kb(p, "VmRSS") for p in pids) / 1024


def hwm_mb(pids: Sequence[int]) -> float:
    """Peak RSS (VmHWM) summed over the processes."""
    return sum(_status_kb(p, "VmHWM") for p in pids) / 1024


@dataclass
class Proc:
    """One process under test (and its children)."""

    name: str
    cmd: list[str]
    log: Path
    port: int
    host: str = "127.0.0.1"
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    cpus: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def command(self) -> str:
        return " ".join(pinned(self.cmd, self.cpus))

    def start(self, ready_timeout: float = 60.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        with self.log.open("ab") as fh:
            self.popen = subprocess.Popen(
                pinned(self.cmd, self.cpus),
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        if not wait_port(self.host, self.port, ready_timeout, self.popen):
            tail = self.log.read_text(errors="replace")[-1500:]
            self.stop()
            raise RuntimeError(f"{self.name} did not start listening on {self.port}:\n{tail}")

    def pids(self) -> list[int]:
        return process_tree(self.pid) if self.alive() else []

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Workers that outlived their parent are still in the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


@dataclass
class Endpoint:
    """Where one target is reached, and which processes serve it (for CPU and memory)."""

    name: str
    port: int
    model: str = "gpt-4o-mini"
    headers: dict[str, str] = field(default_factory=dict)
    proc: Proc | None = None


def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def wait_http(port: int, path: str, timeout: float) -> None:
    """Poll ``http://127.0.0.1:port/path`` until it answers below 500."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"http://127.0.0.1:{port}{path} did not answer in {timeout:g} s")


def trim_log(path: Path, limit: int = 64 * 1024 * 1024) -> None:
    """Access logs grow ~1 MB/s under load: cut them (the writer appends, so this is safe)."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > limit:
            path.write_bytes(b"")
