"""`plano validate`, `plano up` (foreground drain, missing config) and `up -d` / `down`."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from tests.e2e.conftest import e2e_config, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e
Run = Callable[..., subprocess.CompletedProcess[str]]


def test_validate_ok(run_cli: Run, tmp_path: Path, sims: dict[str, SimServer]) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(e2e_config(sims)))
    r = run_cli("validate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "valid" in r.stdout


def test_validate_reports_paths(run_cli: Run, tmp_path: Path) -> None:
    bad = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "m", "port": "twelve"}],
        "model_providers": [{"model": "openai/gpt-4o", "defualt": True}],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = run_cli("validate", "bad.yaml")
    assert r.returncode == 1
    out = " ".join(r.stdout.split())
    assert "listeners[0].port" in out
    assert "defualt" in out and "did you mean 'default'" in out


def test_up_without_config_says_what_is_missing(run_cli: Run) -> None:
    r = run_cli("up")
    assert r.returncode == 1
    assert "config.yaml" in r.stderr and "plano demo" in r.stderr


def test_help_lists_commands(run_cli: Run) -> None:
    r = run_cli("--help")
    for cmd in ("validate", "up", "down", "demo"):
        assert cmd in r.stdout


def test_ctrl_c_drains_in_flight(sims: dict[str, SimServer], tmp_path: Path) -> None:
    p = start_plano(e2e_config(sims), tmp_path)
    result: dict[str, int] = {}

    def slow_call() -> None:
        r = httpx.post(
            f"{p.url}/v1/chat/completions",
            json={"model": "xai/grok-3", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        result["status"] = r.status_code

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)  # the request is in flight (the provider takes 0.8 s)
    assert p.stop(signal.SIGINT) == 0, p.output()
    t.join(5)
    assert result.get("status") == 200, p.output()


def test_detach_and_down(run_cli: Run, tmp_path: Path, sims: dict[str, SimServer]) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(e2e_config(sims)))
    port = free_port()
    r = run_cli("up", "-d", "--port", str(port), "--host", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        down = run_cli("down")
    assert down.returncode == 0, down.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
