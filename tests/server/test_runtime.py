"""The runtime snapshot, its listeners, and reloading it in one process: a swap that in-flight
requests do not notice, routing state and connections carried over, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from tests.server.support import CHAT, MESSAGES, Stub

from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig, check_config
from plano.errors import UpstreamStatusError
from plano.netutil import bind_socket
from plano.server.listeners import not_served, plan_listeners
from plano.server.reload import Reloader
from plano.server.runtime import Resources, Runtime, RuntimeHolder, build_runtime
from plano.server.serving import ListenerServer


def raw_config(stub_url: str, port: int = 12000, **extra: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": port, "timeout": "10s"}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": stub_url},
            {"model": "groq/llama-3.3-70b-versatile", "access_key": "k", "base_url": stub_url},
        ],
        **extra,
    }


def load(raw: dict[str, Any]) -> PlanoConfig:
    config, issues = check_config(raw, {})
    assert config is not None, issues
    return config


def runtime(config: PlanoConfig, previous: Runtime | None = None) -> Runtime:
    resources = previous.resources if previous else Resources.create(TokenCounter())
    generation = previous.generation + 1 if previous else 1
    specs = plan_listeners(config)
    return build_runtime(config, resources, specs, generation=generation, previous=previous)


def paths(rt: Runtime, position: int) -> set[str]:
    return {path for _method, path in rt.views[position].signature}


def test_admin_port_gives_admin_routes_their_own_listener() -> None:
    both = runtime(load(raw_config("http://127.0.0.1:9", gateway={"admin_port": 12001})))
    assert [(v.spec.name, v.spec.kind, v.spec.port) for v in both.views] == [
        ("llm", "model", 12000),
        ("admin", "admin", 12001),
    ]
    model, admin = paths(both, 0), paths(both, 1)
    assert CHAT in model and "/plano/v1/usage" not in model and "/readyz" not in model
    assert {"/plano/v1/usage", "/plano/v1/status", "/plano/v1/routing", "/readyz"} <= admin
    assert CHAT not in admin and "/healthz" in admin
    assert both.views[1].listener.chain.filters == []

    alone = runtime(load(raw_config("http://127.0.0.1:9")))
    assert len(alone.views) == 1
    assert {"/plano/v1/usage", "/plano/v1/status", "/readyz", CHAT} <= paths(alone, 0)


def test_listener_plan_overrides_and_unsupported_kinds() -> None:
    raw = raw_config("http://127.0.0.1:9", gateway={"admin_port": 12001})
    raw["listeners"].append({"type": "agent", "name": "agents", "port": 8001})
    raw["listeners"].append({"type": "prompt", "name": "prompts", "port": 10000})
    config = load(raw)
    specs = plan_listeners(config, "0.0.0.0", 13000)
    assert [(s.name, s.host, s.port) for s in specs] == [
        ("llm", "0.0.0.0", 13000),
        ("agents", "127.0.0.1", 8001),  # agent listeners: docs/agents.md
        ("admin", "0.0.0.0", 12001),  # the admin listener binds the model listener's address
    ]
    assert not_served(config) == ["prompts (prompt, port 10000)"]


def test_breaker_latency_and_pins_survive_a_reload_for_deployments_that_still_exist() -> None:
    url = "http://127.0.0.1:9"
    old = runtime(load(raw_config(url)))
    router = old.router
    gpt = router.catalog.resolve("openai/gpt-4o-mini")
    groq = router.catalog.resolve("groq/llama-3.3-70b-versatile")
    down = UpstreamStatusError("down", status=503)
    for _ in range(router.health.settings.consecutive_failures):
        router.report(gpt, down, 5.0, None)
        router.report(groq, down, 5.0, None)
    assert router.health.get(gpt.key).breaker.state == "open"
    router.affinity.put("session-1", "openai/gpt-4o-mini", gpt.key, None, router.clock())
    router.affinity.put("session-2", "groq", groq.key, None, router.clock())

    # groq moves to another upstream (a different deployment); gpt stays as it was.
    raw = raw_config(url)
    raw["model_providers"][1]["base_url"] = "http://127.0.0.1:10"
    new = runtime(load(raw), previous=old)
    health = new.router.health
    assert health.get(gpt.key) is router.health.get(gpt.key)  # the same object: in-flight
    assert health.get(gpt.key).breaker.state == "open"  # requests report into it
    assert groq.key not in health.names()
    assert new.carried is not None
    assert new.carried.deployments == (gpt.key,) and new.carried.dropped == (groq.key,)
    assert new.router.affinity.get("session-1", "openai/gpt-4o-mini", new.router.clock())
    assert new.router.affinity.get("session-2", "groq", new.router.clock()) is None
    assert new.router.counters is router.counters


# ---------------------------------------------------------------- reloading a serving process


class Served:
    def __init__(
        self, holder: RuntimeHolder, reloader: Reloader, port: int, path: Path, stub: Stub
    ) -> None:
        self.holder = holder
        self.reloader = reloader
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.path = path
        self.stub = stub

    def raw(self, **extra: Any) -> dict[str, Any]:
        return raw_config(self.stub.url, self.port, **extra)

    def write(self, raw: dict[str, Any]) -> None:
        self.path.write_text(yaml.safe_dump(raw))


@pytest.fixture
async def served(stub: Stub, tmp_path: Path) -> AsyncIterator[Served]:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    raw = raw_config(stub.url, port, model_aliases={"fast": {"target": "openai/gpt-4o-mini"}})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load(raw)
    resources = Resources.create(TokenCounter())
    holder = RuntimeHolder(build_runtime(config, resources, plan_listeners(config)))
    server = ListenerServer(holder, 0, sock, drain_timeout=1.0)
    await resources.start()
    await holder.current.start()
    await server.start()
    reloader = Reloader(holder, resources, [server], path, {})
    yield Served(holder, reloader, port, path, stub)
    await server.stop()
    await reloader.close()
    await holder.current.close()
    await resources.close()
    sock.close()


async def ask(client: aiohttp.ClientSession, url: str, model: str) -> int:
    async with client.post(url + CHAT, json={"model": model, "messages": MESSAGES}) as resp:
        await resp.read()
        return resp.status


async def test_a_reload_swaps_the_runtime_and_in_flight_requests_finish_on_the_old_one(
    served: Served, stub: Stub
) -> None:
    old = served.holder.current
    held = asyncio.Event()

    async def slow(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if body["model"] == "gpt-4o-mini" and not held.is_set():
            held.set()
            await stub.release.wait()
        return await stub.default(request, body)

    stub.handler = slow
    async with aiohttp.ClientSession() as client:
        assert await ask(client, served.url, "quick") == 404
        in_flight = asyncio.create_task(ask(client, served.url, "fast"))
        await held.wait()
        assert old.in_flight.n == 1

        served.write(served.raw(model_aliases={"quick": {"target": "openai/gpt-4o-mini"}}))
        new = await served.reloader.reload()
        assert new is not None and served.holder.current is new and new.generation == 2
        assert await ask(client, served.url, "quick") == 200  # the new config answers
        assert await ask(client, served.url, "fast") == 404
        origin = next(iter(new.origins()))
        session = new.pool._sessions[origin]  # taken over: the connection stays warm
        assert old.pool._sessions[origin] is session

        stub.release.set()
        assert await in_flight == 200  # "fast" existed when it arrived
        assert served.reloader._retiring is not None
        await served.reloader._retiring
        assert old.pool._sessions == {} and not session.closed


async def test_invalid_or_moved_configs_are_refused_and_the_old_one_keeps_serving(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    before = served.holder.current
    served.path.write_text("model_providers: [\n")
    assert await served.reloader.reload() is None
    raw = served.raw()
    raw["listeners"][0]["port"] = 1  # the listener would move
    served.write(raw)
    assert await served.reloader.reload() is None
    raw = served.raw()
    raw["model_providers"][0]["access_key"] = "$NOT_SET_ANYWHERE"
    served.write(raw)
    assert await served.reloader.reload() is None
    assert served.holder.current is before
    text = caplog.text
    assert "YAML syntax error" in text
    assert "would move to model 127.0.0.1:1" in text and "change only on restart" in text
    assert "NOT_SET_ANYWHERE is not set" in text
    async with aiohttp.ClientSession() as client:
        assert await ask(client, served.url, "fast") == 200


async def test_reload_requests_during_a_reload_make_one_more(served: Served) -> None:
    served.write(served.raw(model_aliases={"a": {"target": "openai/gpt-4o-mini"}}))
    served.reloader.request()
    task = served.reloader._task
    assert task is not None
    await asyncio.sleep(0)  # the reload starts (and reads the file in a thread)
    served.reloader.request()  # while it runs: one more after it, however many ask
    served.reloader.request()
    await task
    assert served.holder.current.generation == 3
