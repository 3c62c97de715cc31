"""Transport: error mapping at the boundary, pooled sessions per origin, timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from plano.errors import (
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from plano.providers.codec import UpstreamRequest
from plano.providers.transport import Timeouts, UpstreamPool, map_client_error

SECRET_URL = "https://user:sk-secret-key@api.example.com/v1/chat/completions?key=sk-secret-key"


def _conn_key() -> ConnectionKey:
    return ConnectionKey("api.example.com", 443, True, True, None, None, None)


def _request_info() -> RequestInfo:
    url = URL(SECRET_URL)
    return RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)


U = SECRET_URL
T, C, P = UpstreamTimeout, UpstreamConnectError, UpstreamProtocolError


@pytest.mark.parametrize(
    ("exc", "kind", "status"),
    [
        (TimeoutError(), T, 504),
        (aiohttp.ServerTimeoutError(f"Timeout on reading data from {U}"), T, 504),
        (aiohttp.ConnectionTimeoutError(f"Connection timeout to {U}"), T, 504),
        (aiohttp.ClientConnectorError(_conn_key(), OSError(111, f"refused {U}")), C, 502),
        (ConnectionRefusedError(111, "Connection refused"), C, 502),
        (socket.gaierror(-2, "Name or service not known"), C, 502),
        (aiohttp.ServerDisconnectedError(), P, 502),
        (aiohttp.ClientPayloadError(f"Response payload is not completed {U}"), P, 502),
        (ConnectionResetError(104, "reset"), P, 502),
        (aiohttp.ClientResponseError(_request_info(), (), status=400, message=U), P, 502),
        (aiohttp.ClientOSError(f"oops {U}"), C, 502),
        (OSError(f"other {U}"), C, 502),
    ],
)
def test_map_client_error(exc: BaseException, kind: type[PlanoError], status: int) -> None:
    err = map_client_error(exc, "openai")
    assert type(err) is kind
    assert err.status == status
    assert err.retryable
    assert "'openai'" in err.message
    for leak in ("sk-secret-key", "api.example.com", "https://", str(exc)):
        if leak:
            assert leak not in err.message


async def test_sessions_are_pooled_per_origin() -> None:
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=2.0))
    try:
        a = pool.session("https://api.example.com/v1/chat/completions")
        b = pool.session("https://api.example.com/other/path?x=1")
        c = pool.session("https://api.example.com:8443/v1/chat/completions")
        d = pool.session("http://api.example.com/v1/chat/completions")
        assert a is b
        assert len({id(a), id(c), id(d)}) == 3
        assert a.timeout.sock_connect == 1.0
        assert a.timeout.sock_read == 2.0
        assert a.timeout.total is None
        assert a.connector is not None and a.connector.limit == 0  # no 100-connection cap
    finally:
        await pool.close()
    assert a.closed and c.closed
    assert pool.session("https://api.example.com/") is not a  # a closed session is replaced
    await pool.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_open_maps_connection_refused() -> None:
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=1.0))
    url = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"
    req = UpstreamRequest(url, {"authorization": "Bearer sk-secret-key"}, b"{}")
    try:
        with pytest.raises(UpstreamConnectError) as info:
            async with pool.open(req, "vllm"):
                pass
    finally:
        await pool.close()
    assert "127.0.0.1" not in info.value.message
    assert "sk-secret-key" not in info.value.message
    assert isinstance(info.value.__cause__, OSError | aiohttp.ClientError)


@pytest.fixture
async def slow_upstream() -> AsyncIterator[str]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def fast(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "got": (await request.read()).decode()})

    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/fast", fast)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_open_maps_a_first_byte_timeout(slow_upstream: str) -> None:
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=0.1))
    req = UpstreamRequest(slow_upstream + "/slow", {}, b"{}")
    try:
        with pytest.raises(UpstreamTimeout):
            async with pool.open(req, "openai"):
                pass
    finally:
        await pool.close()


async def test_open_and_read(slow_upstream: str) -> None:
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=1.0))
    req = UpstreamRequest(slow_upstream + "/fast", {"content-type": "application/json"}, b"[1]")
    try:
        async with pool.open(req, "openai") as resp:
            assert resp.status == 200
            body = await pool.read(resp, "openai")
        assert body == b'{"ok": true, "got": "[1]"}'
    finally:
        await pool.close()
