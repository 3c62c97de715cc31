"""Installing what the benchmark needs, and describing the machine and versions.

Everything is idempotent and every failure becomes a recorded reason, never a crash: wrk from
Debian (``apt-get install -y wrk``), the bench's own requirements into the running venv,
LiteLLM's proxy in its own venv, Portkey's open-source gateway from npm.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "PeerInstall",
    "ensure_litellm",
    "ensure_portkey",
    "ensure_requirements",
    "ensure_wrk",
    "machine_info",
    "source_revision",
    "versions",
]

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class PeerInstall:
    name: str
    available: bool
    version: str | None
    #: Why it is not available (or how it was installed).
    note: str
    #: Program to run (python venv bin or node script).
    entry: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _run(cmd: list[str], timeout: float, cwd: Path | None = None) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return p.returncode, (p.stdout + p.stderr)[-2000:]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_wrk(install: bool) -> str | None:
    """wrk's path, installing it with apt-get when missing (as root); None if unavailable."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log("wrk is missing and cannot be installed here (needs root and apt-get)")
        return None
    log("installing wrk (apt-get install -y wrk)")
    env_cmd = ["apt-get", "install", "-y", "-q", "wrk"]
    code, _out = _run(env_cmd, 600)
    if code != 0:
        _run(["apt-get", "update", "-q"], 600)
        code, out = _run(env_cmd, 600)
        if code != 0:
            log(f"apt-get install wrk failed: {out[-300:]}")
    return shutil.which("wrk")


def ensure_requirements(install: bool) -> list[str]:
    """The bench's own Python requirements (matplotlib, py-spy) in this venv; missing names."""
    missing = [m for m in ("matplotlib", "py-spy") if not _has_dist(m)]
    if missing and install:
        log(f"installing {', '.join(missing)} into {sys.prefix}")
        req = BENCH_DIR / "requirements.txt"
        code, out = _run([sys.executable, "-m", "pip", "install", "-q", "-r", str(req)], 900)
        if code != 0:
            log(f"pip install -r {req} failed: {out[-300:]}")
        missing = [m for m in missing if not _has_dist(m)]
    return missing


def _has_dist(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def py_spy_path() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def ensure_litellm(work: Path, install: bool) -> PeerInstall:
    venv = work / "litellm-venv"
    exe = venv / "bin" / "litellm"
    py = venv / "bin" / "python"
    if not exe.exists() and install:
        log(
            "installing LiteLLM's proxy into bench/.work/litellm-venv "
            "(pip install 'litellm[proxy]')"
        )
        code, out = _run([sys.executable, "-m", "venv", str(venv)], 300)
        if code == 0:
            _run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], 600)
            code, out = _run([str(py), "-m", "pip", "install", "-q", "litellm[proxy]"], 1800)
        if code != 0:
            return PeerInstall("litellm", False, None, f"install failed: {out[-300:]}")
    if not exe.exists():
        return PeerInstall("litellm", False, None, "not installed (run without --no-install)")
    code, out = _run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], 60
    )
    version = out.strip().splitlines()[-1] if code == 0 and out.strip() else None
    return PeerInstall("litellm", True, version, "pip install 'litellm[proxy]'", str(exe))


def ensure_portkey(work: Path, install: bool) -> PeerInstall:
    home = work / "portkey"
    pkg = home / "node_modules" / "@portkey-ai" / "gateway"
    script = pkg / "build" / "start-server.js"
    if shutil.which("node") is None:
        return PeerInstall("portkey", False, None, "node is not installed (apt-get install nodejs)")
    if not script.exists() and install:
        if shutil.which("npm") is None:
            return PeerInstall("portkey", False, None, "npm is not installed")
        log(
            "installing Portkey's gateway into bench/.work/portkey "
            "(npm install @portkey-ai/gateway)"
        )
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "package.json").exists():
            (home / "package.json").write_text('{"name": "bench-portkey", "private": true}\n')
        cmd = ["npm", "install", "--no-audit", "--no-fund", "@portkey-ai/gateway"]
        code, out = _run(cmd, 900, cwd=home)
        if code != 0:
            return PeerInstall("portkey", False, None, f"npm install failed: {out[-300:]}")
    if not script.exists():
        return PeerInstall("portkey", False, None, "not installed (run without --no-install)")
    version = json.loads((pkg / "package.json").read_text()).get("version")
    return PeerInstall("portkey", True, version, "npm install @portkey-ai/gateway", str(script))


def machine_info() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def versions(wrk: str | None, peers: list[PeerInstall]) -> dict[str, str | None]:
    def v(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    node = None
    if shutil.which("node"):
        code, text = _run(["node", "--version"], 30)
        node = text.strip() if code == 0 else None
    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "plano": v("plano"),
        "aiohttp": v("aiohttp"),
        "uvloop": v("uvloop"),
        "orjson": v("orjson"),
        "wrk": wrk,
        "py-spy": v("py-spy"),
        "matplotlib": v("matplotlib"),
        "node": node,
    }
    out["plano source"] = source_revision()
    for p in peers:
        out[p.name] = p.version
    return out


def source_revision() -> str | None:
    """The commit under test, and whether src/ had uncommitted changes (others may be editing
    the same checkout while the benchmark runs)."""
    root = BENCH_DIR.parent
    code, head = _run(["git", "-C", str(root), "log", "-1", "--format=%h %cI"], 30)
    if code != 0:
        return None
    code, dirty = _run(["git", "-C", str(root), "status", "--porcelain", "--", "src"], 30)
    changed = len([ln for ln in dirty.splitlines() if ln.strip()]) if code == 0 else 0
    return head.strip() + (f" + {changed} uncommitted file(s) in src/" if changed else "")
