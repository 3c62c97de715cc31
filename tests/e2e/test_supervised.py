"""`plano up` as a process tree: listeners of two types, a supervisor with two workers, a
worker killed under load, reloads under load, drain on SIGTERM, `plano reload` and --watch."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.conftest import SIM_KEY, Plano, free_port, start_plano

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e
Run = Callable[..., subprocess.CompletedProcess[str]]
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def paced() -> Iterator[SimServer]:
    """A provider with some latency, so that a worker always has requests in flight."""
    with SimServer.in_thread(SimOptions(name="openai", latency_ms=40)) as sim:
        yield sim


def config(sim: SimServer, workers: int = 2, **more: Any) -> dict[str, Any]:
    gateway = {"workers": workers, "drain_timeout": "10s", **more.pop("gateway", {})}
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": sim.url,
                "default": True,
            }
        ],
        "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}},
        "gateway": gateway,
        **more,
    }


def body(model: str = "fast") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Outcome:
    stream: int
    status: int | None
    error: str
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200


class Load:
    """``streams`` threads, each sending requests one after another on its own keep-alive
    connection (a new one after an error), until stopped."""

    def __init__(self, url: str, streams: int = 20, model: str = "fast") -> None:
        self.url = url + CHAT
        self.model = model
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(streams)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.outcomes

    def ok(self) -> int:
        return sum(o.ok for o in list(self.outcomes))

    def more(self, n: int) -> Callable[[], bool]:
        """Whether ``n`` more requests succeeded than by now."""
        target = self.ok() + n
        return lambda: self.ok() >= target

    def _run(self, stream: int) -> None:
        with httpx.Client(timeout=15) as client:
            while not self._stop.is_set():
                at = time.monotonic()
                try:
                    r = client.post(self.url, json=body(self.model))
                    self.outcomes.append(Outcome(stream, r.status_code, r.text[:200], at))
                except httpx.HTTPError as exc:
                    self.outcomes.append(Outcome(stream, None, repr(exc), at))


def status(url: str) -> dict[str, Any]:
    """``/plano/v1/status`` on a new connection (any worker may take it)."""
    r = httpx.get(url + "/plano/v1/status", headers={"connection": "close"}, timeout=10)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_two_listeners_of_different_types_serve_from_one_process_tree(
    paced: SimServer, tmp_path: Path
) -> None:
    admin_port = free_port()
    p = start_plano(config(paced, gateway={"admin_port": admin_port}), tmp_path)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        workers = children(p.proc.pid)
        assert len(workers) == 2
        r = httpx.post(p.url + CHAT, json=body(), timeout=10)
        assert r.status_code == 200, r.text
        ready = httpx.get(admin + "/readyz").json()
        assert (ready["ready"], ready["state"]) == (True, "ready")
        assert ready["stores"]["durable"]["status"] == "ok" and ready["writer"]["dropped"] == 0
        assert httpx.get(admin + "/healthz").status_code == 200
        assert httpx.get(admin + "/plano/v1/usage").status_code == 200
        shown = status(admin)
        assert shown["pid"] in workers  # the supervisor itself serves nothing
        assert [(lst["name"], lst["type"]) for lst in shown["listeners"]] == [
            ("llm", "model"),
            ("admin", "admin"),
        ]
        assert shown["generation"] == 1 and shown["workers"] == 2
        # The admin endpoints moved to the admin listener; the model API stays where it was.
        assert httpx.get(p.url + "/plano/v1/usage").status_code == 404
        assert httpx.post(admin + CHAT, json=body()).status_code == 404
    finally:
        assert p.stop(signal.SIGTERM) == 0, p.output()


def test_a_killed_worker_costs_only_its_in_flight_requests_and_is_restarted(
    paced: SimServer, tmp_path: Path
) -> None:
    p = start_plano(config(paced), tmp_path)
    try:
        victim, survivor = children(p.proc.pid)
        with Load(p.url, streams=20) as load:
            wait_for("traffic", lambda: load.ok() >= 100)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            known = {victim, survivor}
            wait_for("a new worker", lambda: len(set(children(p.proc.pid)) - known) == 1)
            (fresh,) = set(children(p.proc.pid)) - known
            wait_for("the new worker to serve", lambda: status(p.url)["pid"] == fresh)
            wait_for("traffic after the restart", load.more(200))
        outcomes = load.outcomes
        failed = [o for o in outcomes if not o.ok]
        per_stream = collections.Counter(o.stream for o in failed)
        # Each stream loses at most the one request it had on the killed worker's
        # connection, at the moment of the kill; every other request succeeds.
        assert len(failed) <= 20 and all(n == 1 for n in per_stream.values()), failed
        assert all(killed_at - 5.0 < o.at < killed_at + 2.0 for o in failed), failed
        assert all(o.status is None for o in failed), failed  # connections cut, no 5xx
        assert len(outcomes) - len(failed) >= 300
        log = p.output()
        assert f"(pid {victim}) was killed by SIGKILL; restarting it in" in log
        assert f"started (pid {fresh})" in log
    finally:
        assert p.stop(signal.SIGTERM) == 0, p.output()


def reloaded(p: Plano, generation: int, workers: int) -> Callable[[], bool]:
    line = f"config reloaded: generation {generation} "
    return lambda: p.output().count(line) >= workers


def test_twenty_reloads_under_load_fail_no_request(
    paced: SimServer, tmp_path: Path, run_cli: Run
) -> None:
    p = start_plano(config(paced), tmp_path)
    cfg = tmp_path / "config.yaml"
    try:
        with Load(p.url, streams=10) as load:
            wait_for("traffic", lambda: load.ok() >= 50)
            for n in range(1, 21):
                changed = config(paced)
                changed["model_aliases"][f"extra-{n}"] = {"target": "openai/gpt-4o-mini"}
                cfg.write_text(yaml.safe_dump(changed))
                if n % 5:
                    p.proc.send_signal(signal.SIGHUP)
                else:  # `plano reload` validates, then sends the same SIGHUP
                    r = run_cli("reload", str(cfg), "--pid", str(p.proc.pid))
                    assert r.returncode == 0, r.stderr
                wait_for(f"generation {n + 1}", reloaded(p, n + 1, workers=2))
                wait_for("traffic on the new generation", load.more(10))  # across every swap
        outcomes = load.outcomes
        failed = [o for o in outcomes if not o.ok]
        assert not failed, failed[:5]
        assert len(outcomes) >= 250

        # The last reload took effect in both workers: its alias answers, the one before
        # is gone.
        for _ in range(4):
            answer = httpx.post(
                p.url + CHAT, json=body("extra-20"), headers={"connection": "close"}
            )
            assert answer.status_code == 200, answer.text
        assert httpx.post(p.url + CHAT, json=body("extra-19")).status_code == 404
        assert status(p.url)["generation"] == 21

        # An invalid config is refused, by `plano reload` and by the gateway; the old one
        # keeps serving.
        cfg.write_text(yaml.safe_dump(config(paced)) + "gateway: {workers: zero}\n")
        r = run_cli("reload", str(cfg), "--pid", str(p.proc.pid))
        assert r.returncode == 1
        assert "gateway" in r.stderr and "not reloaded" in r.stderr
        p.proc.send_signal(signal.SIGHUP)
        wait_for("the refusal", lambda: "refused" in p.output())
        assert httpx.post(p.url + CHAT, json=body("extra-20")).status_code == 200
        assert status(p.url)["generation"] == 21
    finally:
        assert p.stop(signal.SIGTERM) == 0, p.output()


def test_sigterm_drains_in_flight_requests_of_every_worker(
    sims: dict[str, SimServer], tmp_path: Path
) -> None:
    slow = sims["slow"]  # answers after 0.8 s
    raw = config(slow)
    raw["model_providers"][0]["model"] = "xai/grok-3"
    raw["model_aliases"] = {}
    p = start_plano(raw, tmp_path)
    result: dict[str, int] = {}

    def call() -> None:
        r = httpx.post(p.url + CHAT, json=body("xai/grok-3"), timeout=10)
        result["status"] = r.status_code

    before = len(slow.requests)
    t = threading.Thread(target=call)
    t.start()
    wait_for("the request at the provider", lambda: len(slow.requests) > before)
    assert p.stop(signal.SIGTERM) == 0, p.output()
    t.join(10)
    assert result.get("status") == 200, p.output()
    log = p.output()
    assert "SIGTERM: draining 2 process(es)" in log
    assert log.count("exited with status 0") == 2


def test_the_file_watch_and_plano_reload_in_one_process(
    paced: SimServer, tmp_path: Path, run_cli: Run
) -> None:
    p = start_plano(config(paced, workers=1), tmp_path, "--watch")
    cfg = tmp_path / "config.yaml"

    def answers(model: str) -> Callable[[], bool]:
        return lambda: httpx.post(p.url + CHAT, json=body(model)).status_code == 200

    try:
        assert children(p.proc.pid) == []  # one worker: `plano up` serves itself
        watched = config(paced, workers=1)
        watched["model_aliases"]["watched"] = {"target": "openai/gpt-4o-mini"}
        cfg.write_text(yaml.safe_dump(watched))
        wait_for("the watch to reload", answers("watched"))
        assert "config file" in p.output() and "changed; reloading" in p.output()

        r = run_cli("reload", str(cfg), "--pid", str(p.proc.pid))  # SIGHUP, same file
        assert r.returncode == 0, r.stderr
        assert "reload signalled" in r.stderr
        wait_for("generation 3", reloaded(p, 3, workers=1))

        moved = config(paced, workers=1, gateway={"admin_port": free_port()})
        cfg.write_text(yaml.safe_dump(moved))
        wait_for("the refusal", lambda: "would be added" in p.output())
        assert "generation 3 keeps serving" in p.output()
        assert answers("watched")()
    finally:
        assert p.stop(signal.SIGINT) == 0, p.output()
    assert SIM_KEY not in p.output()


def test_reload_finds_a_detached_gateway_and_its_config(
    paced: SimServer, tmp_path: Path, run_cli: Run
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(paced, workers=1)))
    port = free_port()
    up = run_cli("up", "-d", "--port", str(port), "--host", "127.0.0.1")
    assert up.returncode == 0, up.stderr
    log = tmp_path / ".plano" / "plano.log"
    try:
        r = run_cli("reload")  # the pid file and the config `up -d` recorded
        assert r.returncode == 0, r.stderr
        wait_for("generation 2", lambda: "config reloaded: generation 2 " in log.read_text())
        other = tmp_path / "other.yaml"
        other.write_text(cfg.read_text())
        r = run_cli("reload", str(other))
        assert r.returncode == 1
        assert "it reloads that file" in " ".join(r.stderr.split())
    finally:
        assert run_cli("down").returncode == 0
    assert run_cli("reload").returncode == 1  # nothing runs
