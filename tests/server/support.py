"""Shared pieces of the in-process gateway tests: a hand-written OpenAI-compatible upstream
stub on 127.0.0.1, the Gateway on 127.0.0.1 (served by the edge runner, as `plano up` does),
and helpers to call it. No live network. Fixtures are in ``conftest.py``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from plano.accounting.filter import AccountingFilter
from plano.accounting.ledger import Ledger, UsageRecord
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.core.sse import SSEParser
from plano.pipeline.filters import FilterChain
from plano.providers.transport import Timeouts, UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.server.admin import admin_routes
from plano.server.edge import EdgeRunner, EdgeSettings, HostPolicy, guard_middleware
from plano.server.gateway import Gateway, GatewaySettings
from plano.store.usage import SQLiteUsageLog

SECRET = "sk-plano-test-SECRET-4242"
CHAT = "/v1/chat/completions"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "openai" / "chat_completion.json"
FIXTURE_BYTES = FIXTURE.read_bytes()
MESSAGES = [{"role": "user", "content": "hi"}]

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def chunk(**kw: Any) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
    }
    return b"data: " + orjson.dumps({**body, **kw}) + b"\n\n"


ROLE = chunk(
    choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
)
TEXT = [
    chunk(choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}])
    for w in ("Hel", "lo", " world")
]
FINISH = chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
USAGE = chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
DONE = b"data: [DONE]\n\n"


async def sse(request: web.Request, parts: list[bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    for p in parts:
        await resp.write(p)
    return resp


@dataclass
class Stub:
    """The upstream. Tests replace ``handler``; every call is recorded."""

    handler: Handler | None = None
    seen: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def default(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if body.get("stream"):
            usage = (body.get("stream_options") or {}).get("include_usage")
            return await sse(request, [ROLE, *TEXT, FINISH, *([USAGE] if usage else []), DONE])
        return web.Response(body=FIXTURE_BYTES, content_type="application/json")

    async def entry(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.seen.append((dict(request.headers), body))
        self.arrived.set()
        try:
            return await (self.handler or self.default)(request, body)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


class Tap:
    """The ledger, keeping a copy of each record the accounting filter gives it (what the
    tests assert on; the usage log behind the ledger is read through the admin API)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.recent: list[UsageRecord] = []

    def add(self, r: UsageRecord) -> None:
        self.recent.append(r)
        self.ledger.add(r)

    async def start(self) -> None:
        await self.ledger.start()

    async def close(self) -> None:
        await self.ledger.close()


@dataclass
class GW:
    url: str
    gateway: Gateway
    ledger: Ledger
    tap: Tap

    async def record(self, n: int = 1) -> list[UsageRecord]:
        """The records once ``n`` requests have completed (on_complete runs off the request)."""
        for _ in range(300):
            if len(self.tap.recent) >= n:
                return list(self.tap.recent)
            await asyncio.sleep(0.01)
        raise AssertionError(f"ledger has {len(self.tap.recent)} records, expected {n}")


GatewayFactory = Callable[..., Awaitable[GW]]


async def start_gateway(
    stub: Stub,
    runners: list[web.AppRunner],
    *,
    settings: GatewaySettings | None = None,
    timeouts: Timeouts | None = None,
    base_url: str | None = None,
    policy: HostPolicy | None = None,
    edge: EdgeSettings | None = None,
) -> GW:
    """The gateway in front of ``stub``, served like ``plano up`` serves it (edge runner,
    host guard) on 127.0.0.1 with a free port."""
    entry = NS(
        model="openai/gpt-4o-mini",
        provider="openai",
        model_id="gpt-4o-mini",
        is_wildcard=False,
        name=None,
        access_key=SECRET,
        default=True,
        base_url=base_url or stub.url,
        passthrough_auth=False,
        headers={},
        provider_interface=None,
    )
    catalog = ModelCatalog([entry], {"fast": NS(target="openai/gpt-4o-mini")})
    ledger = Ledger(SQLiteUsageLog.in_memory())
    tap = Tap(ledger)
    chain = FilterChain([AccountingFilter(tap, PriceBook(), TokenCounter())])
    pool = UpstreamPool(timeouts or Timeouts(connect=1.0, first_byte=2.0))
    gw = Gateway(settings or GatewaySettings(), catalog, pool, chain, admin_routes(ledger, chain))
    app = gw.app()
    app.middlewares.append(guard_middleware(policy or HostPolicy.build("127.0.0.1")))
    runner = EdgeRunner(
        app,
        edge or EdgeSettings(),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=0.1,
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1)
    await site.start()
    runners.append(runner)
    return GW(f"http://127.0.0.1:{runner.addresses[0][1]}", gw, ledger, tap)


async def post(
    client: aiohttp.ClientSession, url: str, body: Any, **kw: Any
) -> tuple[int, CIMultiDict[str], bytes]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with client.post(url + CHAT, data=data, **kw) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


def sse_data(raw: bytes) -> list[str]:
    p = SSEParser()
    return [e.data for e in [*p.feed(raw), *p.flush()]]


def error_of(raw: bytes) -> dict[str, Any]:
    err = orjson.loads(raw)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
