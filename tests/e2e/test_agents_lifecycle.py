"""Agents run by `plano up` (``agents[].run``): the travel example end to end through the
agent listeners with the openai SDK (sequence and parallel), a killed replica coming back, a
crash loop bounded and reported while the gateway serves, a stubborn agent killed on stop;
pub/sub: push to an agent that restarts, SSE resume by offset and by consumer group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from tests.e2e.conftest import Plano, free_port, start_plano

from plano.sim import SimOptions, SimServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"
#: Deadline of every wait on a condition: generous for a loaded 2-core CI box (agents are
#: forked, imported and health-checked); the waits end as soon as the condition holds.
WITHIN = 60.0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as server:
        yield server


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _agents(plano: Plano, headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in _get(plano.url + "/plano/v1/agents", headers)["agents"]}


def _wait(
    plano: Plano, check: Any, within: float = WITHIN, headers: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        agents = _agents(plano, headers)
        if check(agents):
            return agents
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached: {agents}\n{plano.output()[-3000:]}")
        time.sleep(0.1)


def _example(name: str, sim: SimServer) -> dict[str, Any]:
    """An example config with free ports, the simulator and this interpreter."""
    config = yaml.safe_load((EXAMPLES / name / "config.yaml").read_text())
    config["model_providers"][0]["base_url"] = sim.url
    for lst in config["listeners"]:
        if lst["type"] == "agent":
            lst["port"] = free_port()
    for agent in config["agents"]:
        run = agent["run"]
        # Replica i listens on port + i: the ports after the first must be free too.
        agent["url"] = f"http://127.0.0.1:{_free_run(run.get('replicas', 1))}"
        run["command"] = [sys.executable, *run["command"].split()[1:]]
        run["cwd"] = str(EXAMPLES / name)
    return config


def _free_run(count: int) -> int:
    while True:
        port = free_port()
        try:
            for i in range(1, count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + i))
            return port
        except OSError:
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_travel_example_sequence_parallel_restart_and_drain(sim: SimServer, tmp_path: Path) -> None:
    config = _example("travel", sim)
    plano = start_plano(config, tmp_path)
    try:
        agents = _wait(plano, lambda a: all(x["state"] == "up" for x in a.values()))
        assert agents["flight_agent"]["healthy"] == 2
        seq_port, par_port = (lst["port"] for lst in config["listeners"][1:])
        ask = [{"role": "user", "content": "Flights and weather for a trip to Rome"}]
        seq = openai.OpenAI(base_url=f"http://127.0.0.1:{seq_port}/v1", api_key="x")
        answer = seq.chat.completions.create(model="travel", messages=ask)  # type: ignore[arg-type]
        assert (answer.choices[0].message.content or "").startswith("[weather] Simulated")
        par = openai.OpenAI(base_url=f"http://127.0.0.1:{par_port}/v1", api_key="x")
        both = par.chat.completions.create(model="travel", messages=ask)  # type: ignore[arg-type]
        text = both.choices[0].message.content or ""
        assert "[flights] Simulated" in text and "[weather] Simulated" in text

        # Kill one flight replica: it is restarted and back in rotation.
        victim = agents["flight_agent"]["replicas"][0]["pid"]
        os.kill(victim, signal.SIGKILL)
        agents = _wait(
            plano,
            lambda a: (
                a["flight_agent"]["restarts"] == 1
                and a["flight_agent"]["replicas"][0]["pid"] not in (victim, None)
            ),
        )
        # The new process is running; "healthy" counts only once a health check it answered
        # lands (until then the worker may still show the dead process's last good check).
        respawned = time.time()
        agents = _wait(
            plano,
            lambda a: (
                a["flight_agent"]["healthy"] == 2
                and (a["flight_agent"]["replicas"][0]["last_ok"] or 0) > respawned
            ),
        )
        assert agents["flight_agent"]["replicas"][0]["pid"] not in (victim, None)
        assert "SIGKILL" in (agents["flight_agent"]["last_error"] or "")
        cli = subprocess.run(
            [sys.executable, "-m", "plano", "agents", "--url", plano.url],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert cli.returncode == 0 and "flight_agent" in cli.stdout and "2/2 healthy" in cli.stdout
        pids = [r["pid"] for a in agents.values() for r in a["replicas"]]
    finally:
        code = plano.stop(signal.SIGTERM)
    assert code == 0
    assert not any(_alive(p) for p in pids)


STUBBORN = (
    "import os, signal, http.server\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
)


def test_a_crash_loop_is_bounded_and_a_stubborn_agent_is_killed_on_stop(
    sim: SimServer, tmp_path: Path
) -> None:
    config = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": sim.url, "default": True}
        ],
        "agents": [
            {
                "id": "crasher",
                "url": f"http://127.0.0.1:{free_port()}",
                "run": {
                    "command": [sys.executable, "-c", "import sys; sys.exit(3)"],
                    "max_restarts": 2,
                },
            },
            {
                "id": "stubborn",
                "url": f"http://127.0.0.1:{free_port()}",
                "run": {"command": [sys.executable, "-c", STUBBORN], "stop_timeout": "500ms"},
            },
        ],
    }
    plano = start_plano(config, tmp_path)
    try:
        agents = _wait(
            plano,
            lambda a: a["crasher"]["state"] == "crash-looping" and a["stubborn"]["state"] == "up",
        )
        assert agents["crasher"]["restarts"] == 2
        assert agents["crasher"]["last_error"] == "exited with status 3"
        assert _get(plano.url + "/healthz")["status"] == "ok"  # the gateway still serves
        pid = agents["stubborn"]["replicas"][0]["pid"]
    finally:
        started = time.monotonic()
        code = plano.stop(signal.SIGTERM)
    assert code == 0 and time.monotonic() - started < 20  # stop_timeout is 500ms
    assert not _alive(pid)
    assert "crash loop; leaving it down" in plano.output()
    assert "did not stop in time; killing it" in plano.output()


def _publish(plano: Plano, topic: str, data: Any, token: str | None = None) -> str:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"{plano.url}/v1/topics/{topic}", data=json.dumps(data).encode(), headers=headers
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202
        return str(json.loads(resp.read())["id"])


def _sse(
    url: str, headers: dict[str, str], count: int, live: threading.Event | None = None
) -> list[dict[str, Any]]:
    """The first ``count`` events of a subscription, then disconnect; ``live`` is set once
    the gateway says the subscription is on (``: subscribed``)."""
    events: list[dict[str, Any]] = []
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line == ": subscribed" and live is not None:
                live.set()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    break
    return events


def test_pubsub_example_push_after_restart_and_sse_resume(sim: SimServer, tmp_path: Path) -> None:
    config = _example("pubsub", sim)
    plano = start_plano(config, tmp_path)
    try:
        agents = _wait(plano, lambda a: all(x["state"] == "up" for x in a.values()))
        booking_url = config["agents"][0]["url"]
        notifier_url = config["agents"][1]["url"]
        booker = openai.OpenAI(base_url=booking_url + "/v1", api_key="x")
        said = booker.chat.completions.create(
            model="booking_agent", messages=[{"role": "user", "content": "Rome, 2 nights"}]
        )
        assert "Booked: Rome, 2 nights" in (said.choices[0].message.content or "")
        deadline = time.monotonic() + WITHIN
        while not _get(notifier_url + "/received")["received"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first = _get(notifier_url + "/received")["received"][0]
        assert first["data"]["status"] == "booking confirmed"

        # Only the booking agent may publish (pubsub.topics).
        with pytest.raises(urllib.error.HTTPError) as refused:
            _publish(plano, "bookings", {"status": "forged"})
        assert refused.value.code == 403

        # The notifier dies; a booking made meanwhile is pushed once it is back.
        os.kill(agents["notifier_agent"]["replicas"][0]["pid"], signal.SIGKILL)
        booker.chat.completions.create(
            model="booking_agent", messages=[{"role": "user", "content": "Oslo, 1 night"}]
        )
        deadline = time.monotonic() + WITHIN
        while True:
            try:
                got = _get(notifier_url + "/received")["received"]
                if any(e["data"]["request"] == "Oslo, 1 night" for e in got):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, plano.output()[-3000:]
            time.sleep(0.1)
        # The workers learn the restart count from the supervisor's status file once per
        # health round: it may lag the restarted agent's first answer.
        agents = _wait(plano, lambda a: a["notifier_agent"]["restarts"] >= 1)
        assert agents["notifier_agent"]["restarts"] == 1

        # SSE by offset: resume after the last event seen.
        topic = f"{plano.url}/v1/topics/bookings"
        seen = _sse(topic + "?after=0", {}, 2)
        assert [e["data"]["request"] for e in seen] == ["Rome, 2 nights", "Oslo, 1 night"]
        booker.chat.completions.create(
            model="booking_agent", messages=[{"role": "user", "content": "Nice, 3 nights"}]
        )
        resumed = _sse(topic, {"last-event-id": seen[0]["id"]}, 2)
        assert [e["data"]["request"] for e in resumed] == ["Oslo, 1 night", "Nice, 3 nights"]

        # SSE by consumer group: what was published while the subscriber was away.
        group = topic + "?group=audit&auto_ack=1"
        box: list[list[dict[str, Any]]] = []
        live = threading.Event()
        t = threading.Thread(target=lambda: box.append(_sse(group, {}, 1, live)), daemon=True)
        t.start()
        # The group starts at the end at its first poll, which the gateway schedules before
        # it answers ": subscribed" (a fixed sleep here lost the race on a loaded box).
        assert live.wait(WITHIN), "the group subscription did not start"
        booker.chat.completions.create(
            model="booking_agent", messages=[{"role": "user", "content": "Rome again"}]
        )
        t.join(WITHIN)
        assert box and box[0][0]["data"]["request"] == "Rome again"
        booker.chat.completions.create(
            model="booking_agent", messages=[{"role": "user", "content": "while away"}]
        )
        later = _sse(group, {}, 1)
        assert later[0]["data"]["request"] == "while away"
    finally:
        plano.stop(signal.SIGTERM)


def test_push_over_redis_streams_with_two_workers_delivers_each_message_once(
    sim: SimServer, tmp_path: Path
) -> None:
    """Two workers, each a push consumer of the same Redis Streams group: every message
    reaches the notifier once; the managed agents' supervisor serves beside them."""
    config = _example("pubsub", sim)
    admin = "admin-key-for-the-test-1234"
    config["gateway"] = {"workers": 2, "admin_key": admin}
    prefix = f"t{uuid.uuid4().hex[:12]}"  # this run's keys only
    config["state"] = {"redis": "redis://127.0.0.1:6379/0", "key_prefix": prefix}
    plano = start_plano(config, tmp_path)
    auth = {"authorization": f"Bearer {admin}"}
    try:
        _wait(plano, lambda a: all(x["state"] == "up" for x in a.values()), headers=auth)
        ids = [_publish(plano, "bookings", {"request": f"r{i}"}, admin) for i in range(20)]
        notifier = config["agents"][1]["url"] + "/received"
        deadline = time.monotonic() + WITHIN
        while len(got := _get(notifier)["received"]) < 20:
            assert time.monotonic() < deadline, got
            time.sleep(0.1)
        time.sleep(0.5)  # a duplicate, if any, would arrive now
        got = _get(notifier)["received"]
        assert sorted(e["id"] for e in got) == sorted(ids)
        assert all(e["deliveries"] == 1 for e in got)
        assert "hot state (counters, key-value, topics): redis" in plano.output()
    finally:
        plano.stop(signal.SIGTERM)


def test_agents_do_not_outlive_a_killed_supervisor(sim: SimServer, tmp_path: Path) -> None:
    config = _example("pubsub", sim)
    plano = start_plano(config, tmp_path)
    try:
        agents = _wait(plano, lambda a: all(x["state"] == "up" for x in a.values()))
        pids = [r["pid"] for a in agents.values() for r in a["replicas"]]
        worker = _get(plano.url + "/plano/v1/status")["pid"]
    except BaseException:
        plano.stop(signal.SIGTERM)
        raise
    plano.proc.kill()  # SIGKILL: no drain, no SIGTERM forwarded
    plano.proc.wait(WITHIN)
    try:
        deadline = time.monotonic() + WITHIN
        while any(_alive(p) for p in pids):
            assert time.monotonic() < deadline, "an agent outlived plano up"
            time.sleep(0.05)
    finally:
        for pid in (worker, *pids):  # not ours to fix here: do not leave one behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
