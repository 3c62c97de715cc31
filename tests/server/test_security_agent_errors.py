"""An agent's error body reaches the client scrubbed of the agent's own configured
credentials (``agents[].headers``), as provider errors are of provider keys: the runtime's
pool scrubber knows them."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.agents.directory import StaticDirectory
from plano.config import check_config
from plano.core.model import ChatRequest, Message, TextPart
from plano.core.trace import TraceContext
from plano.errors import UpstreamStatusError
from plano.pipeline.context import RequestContext
from plano.server.agent_calls import AgentCaller
from plano.server.runner import build_gateway

TOKEN = "tools_AbCdEf0123456789xyz"


async def _echoing_agent() -> tuple[web.AppRunner, str]:
    async def chat(request: web.Request) -> web.Response:
        given = request.headers.get("authorization", "")
        # An agent that quotes what it was sent when it fails (a framework's debug page).
        msg = f"upstream refused {given.removeprefix('Bearer ')} for this tool"
        return web.json_response({"error": {"message": msg, "type": "server_error"}}, status=500)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_an_agents_error_never_echoes_its_configured_headers() -> None:
    runner, url = await _echoing_agent()
    raw: dict[str, Any] = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k", "default": True}],
        "agents": [{"id": "tools", "url": url, "headers": {"Authorization": f"Bearer {TOKEN}"}}],
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    gateway = build_gateway(config, TokenCounter())
    caller = AgentCaller(
        gateway.pool,  # the runtime's pool, with the scrubber plano up builds
        StaticDirectory({"tools": url}),
        {},
        headers={a.id: a.headers for a in config.agents},
    )
    req = ChatRequest("m", [Message("user", [TextPart("hi")])])
    ctx = RequestContext("req_1", "openai_chat", {}, request=req, trace=TraceContext.start(None))
    try:
        with pytest.raises(UpstreamStatusError) as caught:
            await caller.collect(ctx, "tools", req)
    finally:
        await gateway.pool.close()
        await runner.cleanup()
    assert "upstream refused" in caught.value.message
    assert TOKEN not in caught.value.message, caught.value.message
