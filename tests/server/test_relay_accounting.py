"""What the ledger records for streams and answers that end oddly: a client that closes right
after the terminal event, a stream cut after Anthropic's message_start, an answer that is only
a tool call, invalid UTF-8 in a stream. The gateway is built from a config (as `plano up`
builds it) in front of hand-written upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from tests.server.support import Tap

from plano.accounting.ledger import UsageRecord
from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.server.gateway import Gateway
from plano.server.runner import build_gateway

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sse(name: str | None, data: dict[str, Any]) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


class Upstream:
    """One upstream for both families; tests set ``handler``."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.url = ""
        self.release = asyncio.Event()

    async def entry(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        assert self.handler is not None
        return await self.handler(request)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", up.entry)
    app.router.add_post("/v1/messages", up.entry)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield up
    up.release.set()
    await runner.cleanup()


@pytest.fixture
async def gateway(upstream: Upstream) -> AsyncIterator[tuple[str, Gateway]]:
    raw = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": upstream.url},
            {"model": "anthropic/claude-sonnet-4-5", "access_key": "k", "base_url": upstream.url},
        ],
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    gw = build_gateway(config, TokenCounter())
    accounting = next(f for f in gw.chain.filters if f.name == "accounting")
    accounting.ledger = Tap(accounting.ledger)  # type: ignore[attr-defined]
    runner = web.AppRunner(gw.app(), handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", gw
    await runner.cleanup()


async def _records(gw: Gateway, n: int = 1) -> list[UsageRecord]:
    tap = next(f for f in gw.chain.filters if f.name == "accounting").ledger  # type: ignore[attr-defined]
    assert isinstance(tap, Tap)
    for _ in range(500):
        if len(tap.recent) >= n:
            return list(tap.recent)
        await asyncio.sleep(0.01)
    raise AssertionError("no ledger record")


def _chat_chunk(**kw: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", **kw}


async def test_a_client_closing_right_after_done_is_a_complete_answer(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    """The openai SDK closes right after [DONE]; an upstream that is slow to close its side
    made that a 499 with 0 attempts."""

    async def slow_close(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        text = {"index": 0, "delta": {"content": "hi"}, "finish_reason": None}
        await resp.write(_sse(None, _chat_chunk(choices=[text])))
        end = {"index": 0, "delta": {}, "finish_reason": "stop"}
        await resp.write(_sse(None, _chat_chunk(choices=[end])))
        usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
        await resp.write(_sse(None, _chat_chunk(choices=[], usage=usage)))
        await resp.write(b"data: [DONE]\n\n")
        await upstream.release.wait()  # the upstream keeps its side open
        return resp

    upstream.handler = slow_close
    url, gw = gateway
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        seen = b""
        async for chunk in resp.content.iter_any():
            seen += chunk
            if b"[DONE]" in seen:
                break
    # leaving the block closed the connection before the upstream ended
    (rec,) = await _records(gw)
    assert rec.status == 200 and rec.attempts == 1
    assert rec.usage is not None and rec.usage.input_tokens == 9


async def test_an_anthropic_stream_cut_after_message_start_keeps_its_input_usage(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        usage = {
            "input_tokens": 30,
            "cache_read_input_tokens": 5000,
            "cache_creation_input_tokens": 700,
            "cache_creation": {"ephemeral_1h_input_tokens": 700},
            "output_tokens": 1,
        }
        start = {"type": "message_start", "message": {"id": "msg_1", "model": "c", "usage": usage}}
        await resp.write(_sse("message_start", start))
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        await resp.write(_sse("content_block_start", block))
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "word " * 40},
        }
        await resp.write(_sse("content_block_delta", delta))
        assert request.transport is not None
        request.transport.close()  # cut: no message_delta, no message_stop
        return resp

    upstream.handler = cut
    url, gw = gateway
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    async with aiohttp.ClientSession() as s, s.post(url + "/v1/messages", json=body) as resp:
        raw = await resp.read()
    assert b"event: error" in raw  # the cut is explicit, never a clean end
    (rec,) = await _records(gw)
    u = rec.usage
    assert u is not None and u.estimated
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (5730, 5000, 700)
    assert u.cache_write_1h_tokens == 700
    assert u.output_tokens > 0  # counted from the text that was relayed
    assert rec.cost is not None and rec.cost > 0


async def test_an_answer_that_is_only_a_tool_call_is_not_free(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    async def tool_only(_request: web.Request) -> web.StreamResponse:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris, France"}'},
        }
        body = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    "finish_reason": "tool_calls",
                }
            ],
        }  # no usage
        return web.json_response(body)

    upstream.handler = tool_only
    url, gw = gateway
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "weather?"}]}
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
    (rec,) = await _records(gw)
    assert rec.usage is not None and rec.usage.estimated and rec.usage.output_tokens > 0


async def test_invalid_utf8_in_a_stream_is_an_explicit_error(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    async def bad_bytes(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        text = {"index": 0, "delta": {"content": "ok"}, "finish_reason": None}
        await resp.write(_sse(None, _chat_chunk(choices=[text])))
        await resp.write(b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n')
        await resp.write(b"data: [DONE]\n\n")
        return resp

    upstream.handler = bad_bytes
    url, gw = gateway
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        raw = await resp.read()
    raw.decode("utf-8")  # the client's stream stays valid UTF-8
    assert b"\xff" not in raw
    assert b"not valid UTF-8" in raw
    (rec,) = await _records(gw)
    assert rec.status == 502


async def test_a_hostile_model_name_in_the_answer_is_not_echoed_as_a_header(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    async def evil(_request: web.Request) -> web.StreamResponse:
        body = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "evil\r\nX-Injected: 1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return web.json_response(body)

    upstream.handler = evil
    url, _gw = gateway
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["x-plano-model"] == "gpt-4o-mini"
        assert "X-Injected" not in resp.headers


async def test_an_in_stream_error_that_echoes_a_key_is_scrubbed(
    upstream: Upstream, gateway: tuple[str, Gateway]
) -> None:
    async def leaky(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        text = {"index": 0, "delta": {"content": "partial"}, "finish_reason": None}
        await resp.write(_sse(None, _chat_chunk(choices=[text])))
        leak = {"error": {"message": "Incorrect API key provided: sk-proj-abcdefghijklmnop1234XYZ"}}
        await resp.write(_sse(None, leak))
        return resp

    upstream.handler = leaky
    url, _gw = gateway
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        raw = await resp.read()
    assert b"Incorrect API key provided" in raw
    assert b"sk-proj-abcdefghijklmnop1234XYZ" not in raw


async def test_a_client_that_left_before_the_stream_started_is_not_a_provider_failure(
    upstream: Upstream, gateway: tuple[str, Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp reports a write to a departed client with ClientConnectionResetError, which is
    both a ConnectionResetError and a ClientError: it was mapped to "the provider closed the
    connection" (502), fed the circuit breaker, and the next requests got 503s (seen at the
    end of every wrk run)."""

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        text = {"index": 0, "delta": {"content": "hi"}, "finish_reason": None}
        await resp.write(_sse(None, _chat_chunk(choices=[text])))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    real = web.StreamResponse.prepare

    async def gone(self: web.StreamResponse, request: web.BaseRequest) -> Any:
        if "x-plano-provider" in self.headers:  # the gateway's answer, not the stub's
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        return await real(self, request)

    monkeypatch.setattr(web.StreamResponse, "prepare", gone)
    upstream.handler = stream
    url, gw = gateway
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    async with aiohttp.ClientSession() as s:
        for _ in range(6):
            with contextlib.suppress(aiohttp.ClientError):
                async with s.post(url + "/v1/chat/completions", json=body) as resp:
                    await resp.read()
    records = await _records(gw, 6)
    assert {r.status for r in records} == {499}
    health = gw.router.health.snapshot(0.0)  # type: ignore[attr-defined]
    assert all(h["breaker"] == "closed" for h in health), health
