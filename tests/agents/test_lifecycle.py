"""The lifecycle's pure plan and state, the process table, and the managed directory's health
checks and round robin against real HTTP servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from plano.agents.directory import StaticDirectory
from plano.agents.lifecycle import agent_state, agent_token, plan_agents
from plano.agents.lifecycle_health import ManagedDirectory
from plano.agents.lifecycle_procs import ProcessTable, read_status
from plano.config.agent_run import AgentRun


async def eventually(check: Callable[[], bool], within: float = 30.0) -> None:
    """Until ``check()`` holds: health rounds run every 0.1 s while a replica is down, later
    than that on a loaded box (fixed sleeps here were flaky)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def agent(agent_id: str, url: str, **run: Any) -> Any:
    return SimpleNamespace(id=agent_id, url=url, run=AgentRun(**run) if run else None)


def test_replicas_get_consecutive_ports_env_and_a_token(tmp_path: Path) -> None:
    plan = plan_agents(
        [
            agent(
                "a",
                "http://127.0.0.1:9100/agent",
                command="python a.py",
                replicas=2,
                cwd="sub",
                env={"X": "1"},
            ),
            agent("b", "http://example.com:80", health_url="http://example.com/up"),
            agent("c", "http://127.0.0.1:9300"),
        ],
        base_dir=tmp_path,
        plano_url="http://127.0.0.1:12000",
        secret=b"s" * 32,
    )
    assert set(plan.agents) == {"a", "b"}  # no run: left to the static directory
    r0, r1 = plan.agents["a"].replicas
    assert (r0.url, r1.url) == ("http://127.0.0.1:9100/agent", "http://127.0.0.1:9101/agent")
    assert r1.health_url == "http://127.0.0.1:9101/healthz"
    assert r1.env["PORT"] == "9101" and r1.env["X"] == "1" and r1.env["PLANO_REPLICA"] == "1"
    assert r0.env["PLANO_URL"] == "http://127.0.0.1:12000"
    assert r0.cwd == str((tmp_path / "sub").resolve())
    assert r0.argv == ("python", "a.py") and r0.name == "agent:a#0"
    assert plan.agents["b"].replicas[0].health_url == "http://example.com/up"
    assert not plan.agents["b"].managed and [r.name for r in plan.managed()] == [
        "agent:a#0",
        "agent:a#1",
    ]
    token = r0.env["PLANO_AGENT_TOKEN"]
    assert token == agent_token(b"s" * 32, "a") and plan.agent_for_token(token) == "a"
    assert plan.agent_for_token("pat-wrong") is None
    assert agent_token(b"t" * 32, "a") != token


def test_state_from_replicas() -> None:
    assert agent_state(1, ["crash-looping", "running"], False) == "up"
    assert agent_state(0, ["crash-looping"], True) == "crash-looping"
    assert agent_state(0, ["restarting"], False) == "starting"
    assert agent_state(0, [], True) == "starting"
    assert agent_state(0, ["running"], False) == "down"


def test_the_process_table_counts_restarts_and_crash_loops(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    table = ProcessTable(path, ["agent:a#0"], clock=lambda: 5.0)
    table.record("agent:a#0", "started", 11, "")
    table.record("worker-0", "started", 12, "")  # not an agent: ignored
    table.record("agent:a#0", "restarting", 11, "exited with status 3")
    table.record("agent:a#0", "started", 13, "")
    table.record("agent:a#0", "crash-loop", 13, "exited with status 3")
    row = read_status(path)["agent:a#0"]
    assert row == {
        "pid": None,
        "process": "crash-looping",
        "restarts": 1,
        "last_error": "exited with status 3",
        "since": 5.0,
    }
    assert read_status(tmp_path / "missing.json") == {}


async def _server(status: dict[str, int]) -> tuple[web.AppRunner, int]:
    async def health(_r: web.Request) -> web.Response:
        return web.Response(status=status["code"])

    app = web.Application()
    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def test_health_round_robin_and_failures(tmp_path: Path) -> None:
    codes = [{"code": 200}, {"code": 200}]
    servers = [await _server(c) for c in codes]
    p0, p1 = servers[0][1], servers[1][1]
    # Two "replicas" of one agent: point replica 1's port at the second server.
    plan = plan_agents(
        [agent("a", f"http://127.0.0.1:{p0}", health_interval=0.05, start_timeout=5)],
        base_dir=tmp_path,
        plano_url="",
    )
    a = plan.agents["a"]
    second = type(a.replicas[0])("a", 1, f"http://127.0.0.1:{p1}", f"http://127.0.0.1:{p1}/healthz")
    from plano.agents.lifecycle import AgentPlan, ManagedAgent

    plan = AgentPlan({"a": ManagedAgent("a", a.run, (a.replicas[0], second))}, plan.secret)
    directory = ManagedDirectory(plan, StaticDirectory({"ext": "http://x:1/"}))
    assert directory.state("a") == "starting" and directory.endpoints("a") == []
    await directory.start()
    try:
        assert await directory.wait_up("a", 30)
        await eventually(lambda: len(directory.endpoints("a")) == 2)
        firsts = {directory.endpoints("a")[0] for _ in range(4)}
        assert firsts == {f"http://127.0.0.1:{p0}", f"http://127.0.0.1:{p1}"}
        codes[0]["code"] = 500
        await eventually(lambda: directory.endpoints("a") == [f"http://127.0.0.1:{p1}"])
        directory.report_failure(f"http://127.0.0.1:{p1}/", "connection reset")
        assert directory.endpoints("a") == []
        status = directory.status()[0]
        assert status["healthy"] == 0 and status["last_error"] == "health check answered 500"
        await eventually(lambda: directory.endpoints("a") == [f"http://127.0.0.1:{p1}"])
        assert directory.endpoints("ext") == ("http://x:1",)
        assert directory.state("ext") == "external"
    finally:
        await directory.close()
        for runner, _ in servers:
            await runner.cleanup()


def test_a_restarted_replica_waits_for_its_own_health_check(tmp_path: Path) -> None:
    plan = plan_agents(
        [agent("a", "http://127.0.0.1:1", health_interval=1, start_timeout=5)],
        base_dir=tmp_path,
        plano_url="",
    )
    directory = ManagedDirectory(plan)
    (h,) = directory.health["a"]
    name = h.replica.name
    directory.processes = {name: {"process": "running", "pid": 100}}
    h.healthy, h.ok_pid = True, 100
    assert directory.endpoints("a") == [h.replica.url]
    # The supervisor restarted it: the old process's last good check says nothing of the new.
    directory.processes = {name: {"process": "running", "pid": 101, "restarts": 1}}
    assert directory.endpoints("a") == []
    h.ok_pid = 101  # what the next good check records
    assert directory.endpoints("a") == [h.replica.url]
