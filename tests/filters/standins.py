"""Stand-in filter servers on 127.0.0.1 that speak Plano's filter protocols, and a gateway built
from a config (as `plano up` builds it) in front of the simulated providers.

* :class:`HttpFilter`: ``POST {prefix}{api path}``, JSON in, JSON out (or the status and body
  a test sets); records every call.
* :class:`McpFilter`: MCP streamable HTTP at ``/mcp`` (``initialize`` with an
  ``mcp-session-id``, ``notifications/initialized``, ``tools/call``), replying as SSE or
  JSON; counts sessions opened and can forget them (a restarted server).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.server.runner import build_gateway

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"

#: A filter's behaviour: (api path, body) -> the new body, or (status, error body).
Behaviour = Callable[[str, Any], Any]


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: Any


def _lower(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class Rejection:
    status: int
    body: Any


@dataclass
class HttpFilter:
    behaviour: Behaviour = lambda _path, body: body
    calls: list[Call] = field(default_factory=list)
    delay: float = 0.0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> HttpFilter:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self.url = await _serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.content_type == "text/event-stream":
            # A stream event, as Plano's filters get raw chunks: rewrite each data line.
            self.calls.append(Call(request.path, _lower(request), raw.decode()))
            lines = []
            for line in raw.split(b"\n"):
                if line.startswith(b"data: {"):
                    out = self.behaviour(request.path, orjson.loads(line[6:]))
                    if isinstance(out, Rejection):
                        return web.json_response(out.body, status=out.status)
                    line = b"data: " + orjson.dumps(out)
                lines.append(line)
            return web.Response(body=b"\n".join(lines), content_type="text/event-stream")
        body = orjson.loads(raw)
        self.calls.append(Call(request.path, _lower(request), orjson.loads(raw)))
        out = self.behaviour(request.path, body)
        if isinstance(out, Rejection):
            return web.json_response(out.body, status=out.status)
        if isinstance(out, bytes):
            return web.Response(body=out, content_type="application/json")
        return web.json_response(out)


@dataclass
class McpFilter:
    """``tool(body, path) -> new body``; ``sse`` picks the reply format."""

    tool: Behaviour = lambda _path, body: body
    sse: bool = True
    structured: bool = True
    #: Answer tools/call with this HTTP status instead (a misconfigured server).
    call_status: int | None = None
    sessions: set[str] = field(default_factory=set)
    initializes: int = 0
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None

    async def start(self) -> McpFilter:
        app = web.Application()
        app.router.add_post("/mcp", self._handle)
        self._runner, base = await _serve(app)
        self.url = base + "/ignored/path"  # Plano posts to /mcp whatever the url's path
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def forget(self) -> None:
        """Like a restarted server: every session is gone."""
        self.sessions.clear()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        msg = orjson.loads(await request.read())
        session = request.headers.get("mcp-session-id")
        method = msg.get("method")
        if method == "initialize":
            assert msg["params"]["protocolVersion"] == "2024-11-05"
            self.initializes += 1
            sid = f"session-{next(self._ids)}"
            self.sessions.add(sid)
            hello = {"protocolVersion": "2024-11-05", "capabilities": {"tools": {}}}
            return self._reply(msg["id"], hello, {"mcp-session-id": sid})
        if session not in self.sessions:
            return web.json_response({"error": "unknown session"}, status=404)
        if method == "notifications/initialized":
            return web.Response(status=202)
        if self.call_status is not None:
            return web.json_response({"error": "refused"}, status=self.call_status)
        assert method == "tools/call", method
        args = msg["params"]["arguments"]
        recorded = orjson.loads(orjson.dumps(args["body"]))
        self.calls.append(Call(args["path"], _lower(request), recorded))
        out = self.tool(args["path"], args["body"])
        result: dict[str, Any]
        if isinstance(out, Rejection):
            text = out.body if isinstance(out.body, str) else orjson.dumps(out.body).decode()
            result = {"isError": True, "content": [{"type": "text", "text": text}]}
        elif self.structured:
            result = {
                "content": [{"type": "text", "text": orjson.dumps(out).decode()}],
                "structuredContent": {"result": out},
            }
        else:
            result = {"content": [{"type": "text", "text": orjson.dumps(out).decode()}]}
        return self._reply(msg["id"], result)

    def _reply(self, rid: Any, result: Any, headers: dict[str, str] | None = None) -> web.Response:
        body = orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": result})
        if not self.sse:
            return web.Response(body=body, content_type="application/json", headers=headers)
        note = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/message"})
        sse = b"event: message\ndata: " + note + b"\n\nevent: message\ndata: " + body + b"\n\n"
        return web.Response(body=sse, content_type="text/event-stream", headers=headers)


def gateway_config(sim_url: str, filters: list[dict[str, Any]], **listener: Any) -> dict[str, Any]:
    model = {"access_key": "sk-sim", "base_url": sim_url}
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, **listener}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "name": "openai-up", **model},
            {"model": "anthropic/claude-sonnet-4-5", "name": "anthropic-up", **model},
        ],
        "filters": filters,
        "fallback": {"max_attempts": 1},
    }


async def start_gateway(config_data: dict[str, Any]) -> tuple[web.AppRunner, str]:
    config, issues = check_config(config_data, {})
    assert config is not None, [str(i) for i in issues]
    app = build_gateway(config, TokenCounter()).app()
    return await _serve(app)


async def call(
    url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(url + path, json=body, headers=headers) as r:
        return r.status, await r.read()


def chat(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": "openai-up", "stream": stream, "messages": [{"role": "user", "content": text}]}


def messages(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "anthropic-up",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def stream_text(raw: bytes) -> str:
    """The text of an OpenAI chat or Anthropic messages stream."""
    out = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        ev = orjson.loads(line[6:])
        for c in ev.get("choices", []):
            out.append(c["delta"].get("content") or "")
        if ev.get("type") == "content_block_delta":
            out.append(ev["delta"].get("text", ""))
    return "".join(out)
