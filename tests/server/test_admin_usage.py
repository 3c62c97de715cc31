"""`/plano/v1/usage` and `/plano/v1/requests/{id}` from the usage log: filters, grouping,
paging, the writer's queue; `/readyz` and `/plano/v1/status` with each store's health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tests.server.support import GW, MESSAGES, post

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.server.admin import usage_query
from plano.server.runner import build_gateway


async def send(gw: GW, client: aiohttp.ClientSession, rid: str, **headers: str) -> None:
    status, _, raw = await post(
        client,
        gw.url,
        {"model": "fast", "messages": MESSAGES},
        headers={"x-request-id": rid, **headers},
    )
    assert status == 200, raw


async def usage(gw: GW, client: aiohttp.ClientSession, query: str = "") -> dict[str, Any]:
    async with client.get(f"{gw.url}/plano/v1/usage{query}") as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


async def test_a_request_just_answered_is_found_in_the_writers_queue(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    gw.ledger.writer.interval = 60.0  # nothing is written on its own in this test
    await send(gw, client, "just-now")
    await gw.record(1)
    assert gw.ledger.writer.pending("just-now") is not None
    async with client.get(gw.url + "/plano/v1/requests/just-now") as resp:
        assert resp.status == 200
        assert (await resp.json())["client_request_id"] == "just-now"
    # Totals write this process's queue first: the request is counted.
    assert (await usage(gw, client))["totals"]["requests"] == 1
    assert gw.ledger.writer.pending("just-now") is None
    async with client.get(gw.url + "/plano/v1/requests/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["type"] == "not_found_error"


async def test_filters_grouping_and_paging(gw: GW, client: aiohttp.ClientSession) -> None:
    for i in range(5):
        await send(gw, client, f"r{i}", **({"x-plano-session-id": "s1"} if i < 2 else {}))
    await gw.record(5)
    everything = await usage(gw, client, "?limit=2&group_by=session,status_class")
    assert everything["totals"]["requests"] == 5
    assert [r["client_request_id"] for r in everything["recent"]] == ["r4", "r3"]  # newest first
    groups = {g["session"]: g["requests"] for g in everything["groups"]}
    assert groups == {None: 3, "s1": 2}
    (by_model,) = everything["by_model"]
    assert (by_model["provider"], by_model["model"], by_model["requests"]) == (
        "openai",
        "gpt-4o-mini",
        5,
    )
    assert Decimal(by_model["cost_usd"]) == Decimal(everything["totals"]["cost_usd"])
    pages: list[str] = []
    cursor = ""
    while True:
        page = await usage(gw, client, f"?limit=2{cursor}")
        pages += [r["client_request_id"] for r in page["recent"]]
        if page["next"] is None:
            break
        cursor = f"&cursor={page['next']}"
    assert pages == ["r4", "r3", "r2", "r1", "r0"]
    only = await usage(gw, client, "?session=s1&provider=openai&model=gpt-4o-mini")
    assert only["totals"]["requests"] == 2
    assert (await usage(gw, client, "?status_min=400"))["totals"]["requests"] == 0
    assert (await usage(gw, client, "?since=2100-01-01T00:00:00"))["totals"]["requests"] == 0
    assert (await usage(gw, client, "?until=4102444800"))["totals"]["requests"] == 5
    assert (await usage(gw, client, "?last=0"))["recent"] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?since=yesterday", "since"),
        ("?limit=many", "limit"),
        ("?group_by=secret_column", "by"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?until=nan", "until"),
    ],
)
async def test_bad_parameters_are_400s_naming_them(
    gw: GW, client: aiohttp.ClientSession, query: str, param: str
) -> None:
    async with client.get(f"{gw.url}/plano/v1/usage{query}") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == param


def test_usage_query_reads_epoch_and_iso_times() -> None:
    q, by = usage_query({"since": "1700000000", "until": "2024-01-01T00:00:00+01:00"})
    assert q.since == 1_700_000_000.0 and q.until == 1_704_063_600.0 and by == []
    q, by = usage_query({"limit": "5000", "group_by": "provider, model,,day"})
    assert q.limit == 1000 and by == ["provider", "model", "day"]


@pytest.fixture
async def served() -> AsyncIterator[str]:
    raw = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k", "default": True}],
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    runner = web.AppRunner(build_gateway(config, TokenCounter()).app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_readyz_and_status_report_each_store_and_the_writer(
    served: str, client: aiohttp.ClientSession
) -> None:
    async with client.get(served + "/readyz") as resp:
        ready = await resp.json()
    # (build_gateway's runtime never says ready: `plano up` does, once it listens.)
    assert (resp.status, ready["ready"], ready["state"]) == (503, False, "starting")
    # No guard in front (so no admin seen): status alone (tests/server/test_security_readyz.py).
    assert set(ready) == {"ready", "state"}
    async with client.get(served + "/plano/v1/status") as resp:
        status = await resp.json()
    assert status["stores"]["durable"] == {
        "backend": "memory",
        "target": "this process",
        "status": "ok",
        "since": status["stores"]["durable"]["since"],
    }
    assert set(status["writer"]) >= {"queued", "dropped", "written", "max_queue"}
    assert status["stores"]["hot"]["backend"] == "memory"
