"""`plano validate`, `plano up` (foreground drain, missing config) and `up -d` / `down`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def _both_refuse(run_cli: Run, tmp_path: Path, raw: bytes, expected: str) -> None:
    """`plano validate` and `plano up` reject the file with the same message, no traceback."""
    (tmp_path / "config.yaml").write_bytes(raw)
    checked = run_cli("validate")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert expected in " ".join(checked.stdout.split())
    up = run_cli("up")
    assert up.returncode == 1, up.stderr
    assert expected in " ".join(up.stderr.split())
    assert "Traceback" not in checked.stderr + up.stderr


@pytest.mark.parametrize(
    "raw", [b"", b"  \n\n", b"# nothing yet\n"], ids=["empty", "blank", "comment"]
)
def test_validate_and_up_agree_that_an_empty_file_is_invalid(
    run_cli: Run, tmp_path: Path, raw: bytes
) -> None:
    _both_refuse(run_cli, tmp_path, raw, "the config file is empty")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the config file is binary"),
        (b"\xff\xd8\xff\xe0 JFIF", "the config file is not UTF-8 text"),
        (b"a: \x01\x02\n", "character U+0001 is not allowed in YAML text"),
        (b"[" * 10_000 + b"]" * 10_000, "the YAML nests deeper than 64 levels"),
    ],
    ids=["png", "jpeg", "control-chars", "deep"],
)
def test_broken_files_are_errors_not_tracebacks(
    run_cli: Run, tmp_path: Path, raw: bytes, expected: str
) -> None:
    _both_refuse(run_cli, tmp_path, raw, expected)


def test_billion_laughs_is_refused(run_cli: Run, tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    raw = "\n".join(lines).encode()
    _both_refuse(run_cli, tmp_path, raw, "expands to more than 1,000,000 values")


def test_unset_access_key_is_an_error(run_cli: Run, tmp_path: Path) -> None:
    config = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": free_port()}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "$PLANO_E2E_UNSET_KEY"}],
    }
    expected = "model_providers[0].access_key: environment variable PLANO_E2E_UNSET_KEY is not set"
    _both_refuse(run_cli, tmp_path, yaml.safe_dump(config).encode(), expected)


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
    before = len(sims["slow"].requests)

    def slow_call() -> None:
        r = httpx.post(
            f"{p.url}/v1/chat/completions",
            json={"model": "xai/grok-3", "messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )
        result["status"] = r.status_code

    t = threading.Thread(target=slow_call, daemon=True)
    t.start()
    # In flight: the provider has it (and takes 0.8 s to answer). A fixed sleep here could
    # stop the gateway before the request reached it on a loaded box.
    deadline = time.monotonic() + 60
    while len(sims["slow"].requests) == before:
        assert time.monotonic() < deadline and t.is_alive(), p.output()
        time.sleep(0.01)
    assert p.stop(signal.SIGINT) == 0, p.output()
    t.join(60)
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


def test_up_binds_loopback_and_says_what_is_exposed(
    sims: dict[str, SimServer], tmp_path: Path
) -> None:
    config = e2e_config(sims)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    port = free_port()
    ready = tmp_path / "ready"
    log = tmp_path / "log"
    cmd = ["up", str(cfg), "--port", str(port), "--ready-file", str(ready)]  # no --host
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "plano", *cmd],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SIM_KEY": "k", "COLUMNS": "200"},
            cwd=tmp_path,  # its state (.plano/) goes there, not into the checkout
        )
    try:
        deadline = time.monotonic() + 90
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert ready.read_text().strip() == f"127.0.0.1:{port}"
        out = log.read_text()
        assert "loopback" in out and "admin API" in out and "model API" in out
        r = httpx.get(f"http://127.0.0.1:{port}/plano/v1/usage")
        assert r.status_code == 200  # loopback listener, no admin key: open to this machine
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": "attacker.example"})
        assert r.status_code == 403  # DNS rebinding guard
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)


def test_a_second_gateway_with_workers_refuses_a_held_port(
    sims: dict[str, SimServer], tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    first = start_plano(e2e_config(sims), tmp_path / "a")
    port = first.url.rsplit(":", 1)[1]
    try:
        cfg = tmp_path / "second.yaml"
        cfg.write_text(yaml.safe_dump(e2e_config(sims)))
        cmd = ["up", str(cfg), "--host", "127.0.0.1", "--port", port, "--workers", "2"]
        r = subprocess.run(
            [sys.executable, "-m", "plano", *cmd],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "SIM_KEY": "k", "COLUMNS": "200"},
            cwd=tmp_path,
        )
        assert r.returncode == 1
        assert "in use by another process" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        first.stop()
