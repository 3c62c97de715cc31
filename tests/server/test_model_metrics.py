"""Polling model_metrics_sources against a stand-in Prometheus HTTP API (an aiohttp app serving
``/api/v1/query``) and a stand-in price catalogue: routing follows the metric when it changes,
a source that goes down keeps its last good values, a slow one is cut at its timeout, and a
hosted catalogue without a url is never fetched (the bundled prices rank ``cheapest``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig, check_config
from plano.config.sections import MetricsSource
from plano.server.model_metrics import MetricsPoller
from plano.server.runner import build_gateway


class StandIn:
    """A Prometheus answering instant queries from ``values``; ``down`` answers 503 and
    ``slow`` sleeps past any timeout."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.down = False
        self.slow = False
        self.queries: list[str] = []
        self.catalogue: dict[str, Any] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/query", self.query)
        app.router.add_get("/catalogue.json", self.prices)
        return app

    async def query(self, request: web.Request) -> web.Response:
        self.queries.append(request.query.get("query", ""))
        if request.query.get("query") == "bad(":
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
            return web.json_response(body, status=400)
        if self.slow:
            await asyncio.sleep(5)
        if self.down:
            return web.Response(status=503, text="down")
        result = [
            {"metric": {"model_name": m, "job": "plano"}, "value": [1.7e9, str(v)]}
            for m, v in self.values.items()
        ]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    async def prices(self, _request: web.Request) -> web.Response:
        return web.json_response(self.catalogue)


@pytest.fixture
async def prom() -> AsyncIterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    runner = web.AppRunner(stand_in.app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield stand_in, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


QUERY = "avg by (model_name) (rate(plano_llm_latency_seconds_sum[5m]))"


def source(url: str, **kw: Any) -> MetricsSource:
    data = {"type": "latency", "provider": "prometheus", "url": url, "query": QUERY, **kw}
    return MetricsSource.model_validate(data)


async def test_poller_keeps_last_good_values_when_the_source_is_down(
    prom: tuple[StandIn, str],
) -> None:
    stand_in, url = prom
    poller = MetricsPoller([source(url, timeout=0.5)])
    stand_in.values = {"openai/gpt-4o": 0.4}
    state = await poller.refresh(poller.sources[0])
    assert dict(state.values) == {"openai/gpt-4o": 0.4} and stand_in.queries == [QUERY]
    stand_in.down = True
    state = await poller.refresh(poller.sources[0])
    assert dict(state.values) == {"openai/gpt-4o": 0.4}  # last good values kept
    assert state.failures == 1 and state.error == "HTTP 503"
    stand_in.down, stand_in.slow = False, True
    state = await poller.refresh(poller.sources[0])
    assert state.failures == 2 and state.error == "timed out after 0.5s"
    assert dict(poller.table().sources["latency"].values) == {"openai/gpt-4o": 0.4}
    (status,) = poller.status()
    assert status["in_use"] and status["consecutive_failures"] == 2
    await poller.close()


async def test_a_catalogue_url_is_parsed_by_its_provider(prom: tuple[StandIn, str]) -> None:
    stand_in, url = prom
    stand_in.catalogue = {"openai": {"models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10}}}}}
    cost = MetricsSource.model_validate(
        {"type": "cost", "provider": "models.dev", "url": f"{url}/catalogue.json"}
    )
    poller = MetricsPoller([cost])
    state = await poller.refresh(cost)
    assert state.values["openai/gpt-4o"] == 12.5 and state.usable
    await poller.close()


async def test_a_hosted_catalogue_without_url_is_not_fetched() -> None:
    cost = MetricsSource.model_validate({"type": "cost", "provider": "models.dev"})
    poller = MetricsPoller([cost])
    await poller.start()  # starts no task: nothing to poll
    assert poller._tasks == [] and poller._session is None
    (status,) = poller.status()
    assert status["origin"] == "bundled" and status["in_use"] is False
    await poller.close()


def gateway_config(url: str) -> PlanoConfig:
    raw = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o", "access_key": "k", "base_url": "http://127.0.0.1:9"},
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": "http://127.0.0.1:9"},
            {
                "model": "groq/llama-3.3-70b-versatile",
                "access_key": "k",
                "base_url": "http://127.0.0.1:9",
            },
        ],
        "routing_preferences": [
            {
                "name": "code",
                "description": "writing code",
                "models": ["openai/gpt-4o", "openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile"],
                "selection_policy": {"prefer": "fastest"},
            }
        ],
        "preference_router": {"type": "embedding", "default_route": "code"},
        "model_metrics_sources": [
            {
                "type": "latency",
                "provider": "prometheus",
                "url": url,
                "query": QUERY,
                "refresh_interval": 1,
                "timeout": 0.5,
            }
        ],
    }
    config, issues = check_config(raw, {})
    assert config is not None, [str(i) for i in issues]
    return config


async def decide(client: aiohttp.ClientSession, base: str) -> list[str]:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with client.post(f"{base}/routing/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["route"] == "code"
    return list(data["models"])


async def wait_for(check: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_routing_follows_the_metric_and_reports_freshness(
    prom: tuple[StandIn, str],
) -> None:
    stand_in, url = prom
    stand_in.values = {"openai/gpt-4o": 0.9, "openai/gpt-4o-mini": 0.2, "groq/x": 0.1}
    gateway = build_gateway(gateway_config(url), TokenCounter())
    runner = web.AppRunner(gateway.app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    llama = "groq/llama-3.3-70b-versatile"
    try:
        async with aiohttp.ClientSession() as client:

            async def ordered(want: list[str]) -> bool:
                return await decide(client, base) == want

            # polled off the request path: the first poll lands, then routing follows it
            await wait_for(lambda: ordered(["openai/gpt-4o-mini", "openai/gpt-4o", llama]))
            stand_in.values = {"openai/gpt-4o": 0.05, "openai/gpt-4o-mini": 0.2}
            await wait_for(lambda: ordered(["openai/gpt-4o", "openai/gpt-4o-mini", llama]))

            stand_in.down = True  # down: the last good values keep routing
            before = len(stand_in.queries)
            await wait_for(lambda: asyncio.sleep(0, len(stand_in.queries) > before + 1))
            assert await decide(client, base) == ["openai/gpt-4o", "openai/gpt-4o-mini", llama]
            async with client.get(f"{base}/plano/v1/routing") as resp:
                (src,) = (await resp.json())["metrics_sources"]
            assert src["metric"] == "latency" and src["in_use"] and src["models"] == 2
            assert src["consecutive_failures"] >= 1 and src["age_s"] is not None
            assert src["last_error"] and src["interval_s"] == 1.0
    finally:
        await runner.cleanup()


async def test_a_prometheus_query_error_is_reported_once_per_outage(
    prom: tuple[StandIn, str], caplog: pytest.LogCaptureFixture
) -> None:
    _stand_in, url = prom
    bad = source(url, query="bad(")
    poller = MetricsPoller([bad])
    with caplog.at_level("WARNING", logger="plano.routing"):
        for _ in range(3):
            state = await poller.refresh(bad)
    assert state.error == "prometheus answered parse error" and state.failures == 3
    assert not state.usable
    told = [r for r in caplog.records if "metrics source 'latency' failed" in r.getMessage()]
    assert len(told) == 1 and "no values yet" in told[0].getMessage()
    await poller.close()
