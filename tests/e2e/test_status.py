"""`plano status` against a running gateway: listeners, workers, stores, generation (also
after a reload), `--json`, and one line when nothing answers."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.conftest import e2e_config, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e
Run = Callable[..., subprocess.CompletedProcess[str]]


def test_status_shows_the_running_gateway(
    run_cli: Run, tmp_path: Path, sims: dict[str, SimServer]
) -> None:
    config = e2e_config(sims)
    config["gateway"] = {"workers": 2}
    (tmp_path / "gw").mkdir()
    p = start_plano(config, tmp_path / "gw")
    try:
        shown = run_cli("status", "--url", p.url)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        text = " ".join(shown.stdout.split())
        assert "ready" in text and "generation 1" in text and "workers 2" in text
        assert "llm model" in text and p.url in text and "plain" in text
        assert "durable" in text and "ok" in text

        p.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while True:
            as_json = run_cli("status", "--url", p.url, "--json")
            assert as_json.returncode == 0, as_json.stderr
            status = json.loads(as_json.stdout)
            if status["generation"] == 2:
                break
            assert time.monotonic() < deadline, p.output()
            time.sleep(0.2)
        assert status["state"] == "ready" and status["workers"] == 2
        assert [lst["name"] for lst in status["listeners"]] == ["llm"]
        assert all(s["status"] == "ok" for s in status["stores"].values())
    finally:
        assert p.stop() == 0, p.output()


def test_status_when_nothing_answers(run_cli: Run) -> None:
    r = run_cli("status", "--url", f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "cannot reach the gateway" in r.stderr
    assert "Traceback" not in r.stderr
