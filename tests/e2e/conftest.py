"""End-to-end fixtures: simulated providers in a background thread, and `plano up` as a real
subprocess serving a Plano config that points at them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from plano.sim import SimOptions, SimServer

#: The e2e config's first provider reads its key from $SIM_KEY; an unset key is a config error,
#: so every `plano` subprocess gets it (rather than mutating this process's environment).
SIM_KEY = "sk-sim-secret-123"
#: Seconds `plano up` may take to write its ready file (waits end as soon as it is there).
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Plano:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Never leave a gateway (and its workers and agents) behind a failed test.
            self.proc.kill()
            self.proc.wait(10)
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_plano(config: dict[str, Any], tmp: Path, *extra: str) -> Plano:
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    port = free_port()
    ready = tmp / "ready"
    log = tmp / "plano.log"
    env = {**os.environ, "PLANO_TEST": "1", "SIM_KEY": SIM_KEY}
    cmd = [sys.executable, "-m", "plano", "up", str(cfg), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--ready-file", str(ready), *extra]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    # Generous: a loaded 2-core CI box can take many seconds to import and fork workers; the
    # loop returns as soon as the ready file appears.
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            raise RuntimeError(f"plano up did not start:\n{log.read_text()}")
        time.sleep(0.02)
    return Plano(f"http://127.0.0.1:{port}", proc, log)


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, SimServer]]:
    with (
        SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as ok,
        SimServer.in_thread(SimOptions(name="ratelimited", fault="429", retry_after=7)) as limited,
        SimServer.in_thread(SimOptions(name="cutter", fault="cut")) as cutter,
        SimServer.in_thread(SimOptions(name="slow", latency_ms=800)) as slow,
    ):
        yield {"ok": ok, "limited": limited, "cut": cutter, "slow": slow}


def e2e_config(sims: dict[str, SimServer]) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": sims["ok"].url,
                "default": True,
            },
            {
                "model": "groq/llama-3.3-70b-versatile",
                "access_key": "k",
                "base_url": sims["ok"].url,
            },
            {
                "model": "mistral/mistral-small-latest",
                "access_key": "k",
                "base_url": sims["limited"].url,
            },
            {"model": "deepseek/deepseek-chat", "access_key": "k", "base_url": sims["cut"].url},
            {"model": "xai/grok-3", "access_key": "k", "base_url": sims["slow"].url},
            {"model": "together_ai/dead", "access_key": "k", "base_url": "http://127.0.0.1:9"},
        ],
        "model_aliases": {"fast": {"target": "groq/llama-3.3-70b-versatile"}},
    }


@pytest.fixture(scope="module")
def plano(sims: dict[str, SimServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plano]:
    p = start_plano(e2e_config(sims), tmp_path_factory.mktemp("plano"))
    yield p
    assert p.stop() == 0, p.output()


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "plano", *args],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            timeout=60,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SIM_KEY": SIM_KEY},
        )

    return run
