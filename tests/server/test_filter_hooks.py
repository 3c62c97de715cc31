"""Per-attempt hooks through a config-built gateway: a filter adds a header to each upstream
request, refuses one deployment (fallback moves on), and observes every attempt; a stream
filter rewrites, splits and drops events and the client sees only its output."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.core.model import StreamEvent, TextDelta
from plano.errors import DeploymentRefused, PlanoError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.providers.codec import UpstreamRequest
from plano.providers.deployment import Deployment
from plano.server.runner import build_gateway

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def _chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


class Hooks(Filter):
    name: ClassVar[str] = "hooks"

    def __init__(self) -> None:
        self.log: list[tuple[str, str, str | None]] = []

    def on_attempt_start(self, ctx: RequestContext, dep: Deployment) -> None:
        self.log.append(("start", dep.key, None))

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        if dep.key == "first":
            raise DeploymentRefused(f"{dep.key} is not allowed for this caller")
        request.headers["traceparent"] = ctx.trace.child().traceparent()

    def on_attempt_end(
        self, ctx: RequestContext, dep: Deployment, error: PlanoError | None
    ) -> None:
        self.log.append(("end", dep.key, error.metric_label if error else None))


class Shout(Filter):
    """Upper-cases text, splits it into single characters, drops empty deltas."""

    name: ClassVar[str] = "shout"

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        if isinstance(ev, TextDelta):
            return [TextDelta(c) for c in ev.text.upper()]
        return (ev,)


@pytest.fixture
async def seen() -> AsyncIterator[tuple[list[dict[str, str]], str]]:
    headers: list[dict[str, str]] = []

    async def upstream(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        headers.append(dict(request.headers))
        if not body.get("stream"):
            return web.json_response(ANSWER)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for part in (_chunk("hel"), _chunk("lo"), _chunk(finish="stop"), b"data: [DONE]\n\n"):
            await resp.write(part)
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield headers, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def _gateway(base: str, *filters: Filter) -> tuple[web.AppRunner, str]:
    entry = {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": base}
    raw: dict[str, Any] = {
        "version": "v0.4.0",
        "model_providers": [{**entry, "name": "first"}, {**entry, "name": "second"}],
        "fallback": {"models": {"first": ["second"]}},
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    runner = web.AppRunner(build_gateway(config, TokenCounter(), extra_filters=filters).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions"


async def test_attempt_hooks_add_headers_refuse_a_deployment_and_observe(
    seen: tuple[list[dict[str, str]], str],
) -> None:
    headers, base = seen
    hooks = Hooks()
    runner, url = await _gateway(base, hooks)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = {"model": "first", "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, json=body, headers={"traceparent": parent}) as resp,
        ):
            assert resp.status == 200
            assert resp.headers["x-plano-deployment"] == "second"
    finally:
        await runner.cleanup()
    assert len(headers) == 1  # the refused deployment was never called
    sent = headers[0]["traceparent"].split("-")
    assert sent[1] == "0af7651916cd43dd8448eb211c80319c"  # the client's trace continues
    assert sent[2] != "b7ad6b7169203331"  # under a span of its own
    assert hooks.log == [
        ("start", "first", None),
        ("end", "first", "deployment_refused"),
        ("start", "second", None),
        ("end", "second", None),
    ]


async def test_a_stream_filter_rewrites_what_the_client_gets(
    seen: tuple[list[dict[str, str]], str],
) -> None:
    _headers, base = seen
    runner, url = await _gateway(base, Shout())
    body = {"model": "second", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with aiohttp.ClientSession() as s, s.post(url, json=body) as resp:
            raw = await resp.read()
    finally:
        await runner.cleanup()
    texts = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            for c in orjson.loads(line[6:])["choices"]:
                if c["delta"].get("content"):
                    texts.append(c["delta"]["content"])
    assert texts == ["H", "E", "L", "L", "O"]
    assert raw.rstrip().endswith(b"data: [DONE]")
