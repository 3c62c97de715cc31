"""Budgets and rate limits in a gateway built from a config (as `plano up` builds it), in front
of the simulated providers: answers in the client's shape, refusals before any call upstream,
fallback to a deployment the budget can afford, holds released after a failover, the bound
sent upstream, the admin view, and a hot store that is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.config import check_config
from plano.server.runner import build_gateway
from plano.sim import SimOptions, SimServer
from plano.store.setup import StateSettings

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions(name="sim")) as s:
        yield s


def config(sim: SimServer, **extra: Any) -> dict[str, Any]:
    def entry(model: str, name: str, **kw: Any) -> dict[str, Any]:
        return {"model": model, "name": name, "access_key": "k", "base_url": sim.url, **kw}

    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            entry("openai/gpt-4o", "big", default=True),
            entry("openai/gpt-4o-mini", "mini"),
            entry("openai/gpt-4o-mini", "broken", headers={"x-sim-fault": "500"}),
        ],
        "fallback": {"models": {"big": ["mini"], "broken": ["mini"]}},
        **extra,
    }


class Served:
    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner, self.url = runner, url

    async def post(
        self, path: str, body: dict[str, Any], **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.url + path, json=body, headers=headers) as r,
        ):
            return r.status, dict(r.headers), orjson.loads(await r.read())

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as s, s.get(self.url + path) as r:
            assert r.status == 200, await r.text()
            return orjson.loads(await r.read())


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(data: dict[str, Any], state: StateSettings | None = None) -> Served:
        cfg, issues = check_config(data, {})
        assert cfg is not None, [str(i) for i in issues]
        runner = web.AppRunner(build_gateway(cfg, state=state).app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return Served(runner, f"http://127.0.0.1:{runner.addresses[0][1]}")

    yield start
    for r in runners:
        await r.cleanup()


def budget(**kw: Any) -> dict[str, Any]:
    return {"name": "b", "scope": "global", "period": "day", **kw}


async def settled(gw: Served) -> dict[str, Any]:
    """The budget's row once no hold is left (settlements run after the answer)."""
    for _ in range(200):
        row: dict[str, Any] = (await gw.get("/plano/v1/budgets"))["budgets"][0]
        if row.get("held_nano_usd", 0) == 0 and row.get("held_tokens", 0) == 0:
            return row
        await asyncio.sleep(0.01)
    raise AssertionError(f"holds never went: {row}")


async def test_refused_in_the_anthropic_shape_before_any_call(sim: SimServer, serve: Any) -> None:
    gw = await serve(config(sim, budgets=[budget(tokens=50)]))
    body = {"model": "mini", "max_tokens": 100, "messages": USER}
    status, headers, err = await gw.post(MESSAGES, body)
    assert status == 429 and sim.requests == []
    assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error"
    assert err["error"]["message"].startswith("Budget 'b' (every request) cannot cover")
    assert int(headers["Retry-After"]) > 0 and headers["x-should-retry"] == "false"


async def test_fallback_moves_to_a_deployment_the_budget_can_afford(
    sim: SimServer, serve: Any
) -> None:
    # gpt-4o's worst case for 200 output tokens is ~$0.0023: more than the budget; mini's fits.
    gw = await serve(config(sim, budgets=[budget(usd="0.0005")]))
    status, headers, answer = await gw.post(
        CHAT, {"model": "big", "max_tokens": 200, "messages": USER}
    )
    assert status == 200, answer
    assert headers["x-plano-deployment"] == "mini" and "x-should-retry" not in headers
    assert len(sim.requests) == 1  # gpt-4o was refused before the call
    row = await settled(gw)
    assert 0 < row["used_nano_usd"] < 500_000


async def test_a_failed_attempts_hold_is_released(sim: SimServer, serve: Any) -> None:
    gw = await serve(config(sim, budgets=[budget(usd="1", tokens=10_000)]))
    body = {"model": "broken", "max_tokens": 16, "messages": USER}
    status, headers, answer = await gw.post(CHAT, body)
    assert status == 200 and headers["x-plano-attempts"] == "2" and len(sim.requests) == 2
    row = await settled(gw)
    # Only the answering attempt was spent; the failed one's hold went.
    assert row["used_tokens"] == answer["usage"]["total_tokens"]


async def test_default_max_tokens_is_sent_upstream(sim: SimServer, serve: Any) -> None:
    gw = await serve(config(sim, budgets=[budget(usd="1", default_max_tokens=7)]))
    status, _, answer = await gw.post(CHAT, {"model": "mini", "messages": USER})
    assert status == 200
    sent = sim.requests[-1].body
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 7
    assert answer["usage"]["completion_tokens"] <= 7


async def test_stream_settles_on_the_streamed_usage(sim: SimServer, serve: Any) -> None:
    gw = await serve(config(sim, budgets=[budget(tokens=10_000)]))
    body = {"model": "mini", "max_tokens": 16, "stream": True, "messages": USER}
    async with aiohttp.ClientSession() as s, s.post(gw.url + CHAT, json=body) as r:
        assert r.status == 200
        await r.read()
    row = await settled(gw)
    recent = (await gw.get("/plano/v1/usage?limit=1"))["recent"][0]
    assert row["used_tokens"] == recent["input_tokens"] + recent["output_tokens"] > 0


async def test_a_hot_store_that_is_down(sim: SimServer, serve: Any) -> None:
    down = StateSettings(durable=":memory:", hot="redis://127.0.0.1:9/0")
    data = config(
        sim,
        budgets=[budget(usd="1")],
        rate_limits=[{"scope": "global", "requests": 100}],
    )
    gw = await serve(data, down)
    status, _, err = await gw.post(CHAT, {"model": "mini", "max_tokens": 16, "messages": USER})
    assert status == 503 and sim.requests == []  # budgets fail closed
    assert err["error"]["code"] == "store_unavailable"
    assert "Budgets cannot be checked" in err["error"]["message"]
    data["budgets"] = [budget(usd="1", on_store_error="open")]
    gw = await serve(data, down)
    status, headers, _ = await gw.post(CHAT, {"model": "mini", "max_tokens": 16, "messages": USER})
    assert status == 200  # both fail open: served, uncounted
    assert "x-ratelimit-limit-requests" not in headers


async def test_rate_limit_headers_on_every_answer(sim: SimServer, serve: Any) -> None:
    gw = await serve(config(sim, rate_limits=[{"scope": "model", "requests": 2, "tokens": 1000}]))
    seen = []
    for _ in range(2):
        status, headers, _ = await gw.post(CHAT, {"model": "mini", "messages": USER})
        assert status == 200
        seen.append(
            (
                headers["x-ratelimit-remaining-requests"],
                int(headers["x-ratelimit-remaining-tokens"]),
            )
        )
    assert [r for r, _ in seen] == ["1", "0"] and seen[1][1] < seen[0][1]
    status, headers, err = await gw.post(CHAT, {"model": "mini", "messages": USER})
    assert status == 429 and err["error"]["type"] == "rate_limit_error"
    assert int(headers["Retry-After"]) > 0
    status, _, _ = await gw.post(CHAT, {"model": "big", "messages": USER})
    assert status == 200  # another model, another window
