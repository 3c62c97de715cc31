"""What TLS costs on a listener: one gateway (one worker) with a plain and an https model
listener in front of the same simulator, driven by wrk: keep-alive connections (the steady
state) and a new connection per request (a full handshake each time).

    python -m bench.tls [--seconds 8] [--connections 32]

Certificates are made with the openssl CLI in a temporary folder; every process started
here runs in its own session and is stopped by its process group.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _cert(folder: Path) -> None:
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    files = ["-keyout", str(folder / "k.pem"), "-out", str(folder / "c.pem")]
    subject = ["-days", "1", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", *key, *files, *subject], check=True, capture_output=True
    )


def _wrk(url: str, script: Path, seconds: int, connections: int, close: bool) -> dict[str, str]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req/s": rps.group(1) if rps else "?",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "non-2xx": errors.group(1) if errors else "0",
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plano-tls-bench-"))
    _cert(tmp)
    (tmp / "post.lua").write_text(LUA)
    sim_port, plain, secure = _free_port(), _free_port(), _free_port()
    (tmp / "config.yaml").write_text(
        f"""version: v0.4.0
listeners:
  - {{type: model, name: plain, port: {plain}}}
  - type: model
    name: secure
    port: {secure}
    tls: {{cert_file: c.pem, key_file: k.pem}}
model_providers:
  - {{model: openai/gpt-4o-mini, access_key: k, base_url: "http://127.0.0.1:{sim_port}",
     default: true}}
"""
    )
    py = sys.executable
    sim = _start([py, "-m", "plano", "sim", "--port", str(sim_port), "--quiet"], tmp / "sim.log")
    gw = _start([py, "-m", "plano", "up", str(tmp / "config.yaml")], tmp / "plano.log")
    try:
        for port in (sim_port, plain, secure):
            _wait(port)
        time.sleep(1.0)
        rows = []
        for close in (False, True):
            for name, url in (
                ("http", f"http://127.0.0.1:{plain}"),
                ("https", f"https://127.0.0.1:{secure}"),
            ):
                got = _wrk(
                    url + "/v1/chat/completions",
                    tmp / "post.lua",
                    args.seconds,
                    args.connections,
                    close,
                )
                rows.append((name, "new connection each" if close else "keep-alive", got))
        print("| listener | connections | req/s | p50 | p99 | non-2xx |")
        print("|---|---|---|---|---|---|")
        for name, mode, got in rows:
            print(
                f"| {name} | {mode} | {got['req/s']} | {got['p50']} | {got['p99']} | "
                f"{got['non-2xx']} |"
            )
    finally:
        _stop(gw)
        _stop(sim)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
