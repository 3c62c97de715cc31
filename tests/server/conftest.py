"""Fixtures of the in-process gateway tests (see ``support.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tests.server.support import CHAT, GW, GatewayFactory, Stub, start_gateway


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    s = Stub()
    app = web.Application()
    app.router.add_post(CHAT, s.entry)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1)
    await site.start()
    s.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield s
    s.release.set()
    await runner.cleanup()


@pytest.fixture
async def make_gateway(stub: Stub) -> AsyncIterator[GatewayFactory]:
    runners: list[web.AppRunner] = []

    async def make(**kw: Any) -> GW:
        return await start_gateway(stub, runners, **kw)

    yield make
    for r in runners:
        await r.cleanup()


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> GW:
    return await make_gateway()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
