"""Same-family pass-through: the client's bytes go upstream untouched when nothing needs to
change, and are re-encoded only when something does (the model's name, usage in a stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
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


@pytest.fixture
async def seen_and_url() -> AsyncIterator[tuple[list[bytes], str]]:
    seen: list[bytes] = []

    async def upstream(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.json_response(ANSWER)

    up = web.Application()
    up.router.add_post("/v1/chat/completions", upstream)
    up_runner = web.AppRunner(up)
    await up_runner.setup()
    await web.TCPSite(up_runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{up_runner.addresses[0][1]}"
    raw = {
        "version": "v0.4.0",
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": base}],
        "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}},
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    runner = web.AppRunner(build_gateway(config, TokenCounter()).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield seen, f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions"
    await runner.cleanup()
    await up_runner.cleanup()


async def test_unchanged_requests_go_upstream_byte_for_byte(
    seen_and_url: tuple[list[bytes], str],
) -> None:
    seen, url = seen_and_url
    body = (
        b'{ "messages" : [ {"role":"user","content":"hi"} ],\n  "model": "gpt-4o-mini", "seed": 7 }'
    )
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as resp:
        assert resp.status == 200
    assert seen == [body]


async def test_a_renamed_model_is_re_encoded(seen_and_url: tuple[list[bytes], str]) -> None:
    seen, url = seen_and_url
    body = b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}], "seed": 7}'
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as resp:
        assert resp.status == 200
    assert orjson.loads(seen[0]) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 7,
    }
