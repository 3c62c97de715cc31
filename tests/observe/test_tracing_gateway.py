"""Tracing through a real gateway (in process): the provider gets the attempt's span as its
traceparent, a new trace is started when the client sends none, unsampled requests leave no
trace, and the trace API answers with the recent traces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.config import check_config
from plano.server.runner import build_gateway

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/"), seen


async def _gateway(url: str, tracing: dict[str, Any]) -> TestClient:
    config, issues = check_config(
        {
            "version": "v0.4.0",
            "listeners": [{"type": "model", "name": "llm", "port": 12000}],
            "model_providers": [
                {
                    "model": "openai/gpt-4o-mini",
                    "access_key": "sk-up-secret",
                    "base_url": url,
                    "default": True,
                }
            ],
            "tracing": {"otlp_export": False, **tracing},
        },
        {},
    )
    assert config is not None, [str(i) for i in issues]
    client = TestClient(TestServer(build_gateway(config).app()))
    await client.start_server()
    return client


BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


async def test_provider_gets_the_attempt_span_and_traces_are_kept(upstream: Any) -> None:
    url, seen = upstream
    client = await _gateway(url, {"random_sampling": 100})
    try:
        r = await client.post("/v1/chat/completions", json=BODY)
        assert r.status == 200
        listed = await (await client.get("/plano/v1/traces?limit=5")).json()
        (t,) = listed["traces"]
        assert t["tokens"] == 4 and t["status"] == "ok"
        one = await (await client.get(f"/plano/v1/traces/{t['trace_id']}")).json()
        (attempt,) = [s for s in one["spans"] if s["service"] == "plano(llm)"]
        root = next(s for s in one["spans"] if s["service"] == "plano(inbound)")
        assert root["parent_id"] is None  # no traceparent from the client: a new trace
        assert seen[0]["traceparent"] == f"00-{t['trace_id']}-{attempt['span_id']}-01"
        assert "sk-up-secret" not in str(one)
        bad = await client.get("/plano/v1/traces?where=nonsense")
        assert bad.status == 400
        assert (await client.get("/plano/v1/traces/" + "a" * 32)).status == 404
        assert (await client.get("/plano/v1/traces/not-an-id")).status == 404
        status = await (await client.get("/plano/v1/tracing")).json()
        assert status["enabled"] and status["spans"] >= 3 and status["dropped"] == 0
    finally:
        await client.close()


async def test_unsampled_requests_leave_no_trace(upstream: Any) -> None:
    url, seen = upstream
    client = await _gateway(url, {"random_sampling": 0})
    try:
        r = await client.post("/v1/chat/completions", json=BODY)
        assert r.status == 200
        assert seen[0]["traceparent"].endswith("-00")  # not sampled, still propagated
        listed = await (await client.get("/plano/v1/traces")).json()
        assert listed == {"traces": []}
    finally:
        await client.close()
