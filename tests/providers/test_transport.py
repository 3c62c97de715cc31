"""Transport: error mapping at the boundary, pooled sessions per origin, timeouts, no redirects,
oversized headers, and provider errors decoded with secrets scrubbed."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from plano.core.redact import PLACEHOLDER, SecretScrubber
from plano.errors import (
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
    is_retryable,
)
from plano.providers.anthropic import AnthropicCodec
from plano.providers.codec import Codec, UpstreamRequest
from plano.providers.gemini import GeminiCodec
from plano.providers.openai_compat import OpenAICodec
from plano.providers.transport import MAX_HEADER_LINE, Timeouts, UpstreamPool, map_client_error

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


@dataclass
class Origin:
    """A stub upstream on 127.0.0.1 that records every request it gets."""

    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)


async def _serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], runners: list[web.AppRunner]
) -> str:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1)
    await site.start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def runners() -> AsyncIterator[list[web.AppRunner]]:
    started: list[web.AppRunner] = []
    yield started
    for r in started:
        await r.cleanup()


async def _redirecting(runners: list[web.AppRunner], status: int) -> tuple[str, Origin]:
    other = Origin()

    async def record(request: web.Request) -> web.Response:
        other.seen.append(dict(request.headers))
        return web.json_response({"stolen": True})

    other.url = await _serve(record, runners)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"location": other.url + "/v1beta/steal"})

    return await _serve(redirect, runners), other


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_an_error_and_the_key_never_reaches_the_other_origin(
    runners: list[web.AppRunner], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    url, other = await _redirecting(runners, status)
    headers = {"x-api-key": "sk-ant-key", "x-goog-api-key": "AIza-key", "authorization": "B k"}
    req = UpstreamRequest(url + "/v1/messages", headers, b"{}")
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=2.0))
    try:
        for _ in range(2):
            with pytest.raises(UpstreamProtocolError) as info:
                async with pool.open(req, "anthropic"):
                    pass
    finally:
        await pool.close()
    assert other.seen == []
    err = info.value
    assert err.message == (
        f"The provider 'anthropic' answered with a redirect (HTTP {status}), "
        "which Plano does not follow."
    )
    assert (err.status, is_retryable(err)) == (502, True)  # fallback may try elsewhere
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per provider, not per request
    assert other.url not in caplog.text


async def _big_header(runners: list[web.AppRunner], size: int) -> str:
    async def big(request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers={"x-big": "v-" + "s" * size})

    return await _serve(big, runners)


async def test_an_oversized_response_header_fails_the_attempt_and_is_logged_once(
    runners: list[web.AppRunner], caplog: pytest.LogCaptureFixture
) -> None:
    url = await _big_header(runners, 100_000)
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=2.0))
    req = UpstreamRequest(url + "/v1/chat/completions", {}, b"{}")
    try:
        for _ in range(3):
            with pytest.raises(UpstreamProtocolError) as info:
                async with pool.open(req, "openai"):
                    pass
    finally:
        await pool.close()
    assert info.value.message == (
        f"The provider 'openai' sent a response header longer than {MAX_HEADER_LINE} bytes."
    )
    assert is_retryable(info.value)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "openai" in warnings[0].getMessage()
    assert "sss" not in caplog.text  # never the header's value


async def test_a_header_under_the_limit_gets_through(runners: list[web.AppRunner]) -> None:
    url = await _big_header(runners, MAX_HEADER_LINE - 100)
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=2.0))
    try:
        async with pool.open(UpstreamRequest(url, {}, b"{}"), "openai") as resp:
            assert resp.status == 200
            assert len(resp.headers["x-big"]) == MAX_HEADER_LINE - 98
    finally:
        await pool.close()


CONFIGURED = "configured-Key-0001"


def _openai_error(message: str, **kw: str) -> bytes:
    return orjson.dumps({"error": {"message": message, **kw}})


@pytest.mark.parametrize(
    ("codec", "body"),
    [
        (
            OpenAICodec(),
            _openai_error(
                f"Incorrect API key provided: {CONFIGURED}; Authorization: Bearer sk1-abcdefgh",
                type=f"invalid_request_error {CONFIGURED}",
                code=f"invalid_api_key:{CONFIGURED}",
                param=f"key={CONFIGURED}",
            ),
        ),
        (
            AnthropicCodec(),
            orjson.dumps(
                {
                    "type": "error",
                    "error": {"type": f"authentication_error {CONFIGURED}", "message": CONFIGURED},
                }
            ),
        ),
        (
            GeminiCodec(),
            orjson.dumps(
                {
                    "error": {
                        "code": 400,
                        "message": f"API key not valid: {CONFIGURED}",
                        "status": f"INVALID_ARGUMENT {CONFIGURED}",
                    }
                }
            ),
        ),
    ],
)
def test_decode_error_scrubs_every_text_field(codec: Codec, body: bytes) -> None:
    pool = UpstreamPool(Timeouts(), scrubber=SecretScrubber([CONFIGURED]))
    err = pool.decode_error(codec, 401, body, {"retry-after": "3"})
    fields = [err.message, err.code, err.param, err.upstream_type]
    assert not any(CONFIGURED in (f or "") for f in fields)
    assert "sk1-abcdefgh" not in err.message
    assert PLACEHOLDER in err.message
    assert (err.status, err.retry_after) == (401, 3.0)


async def test_read_error_scrubs_key_shapes_without_configured_secrets(
    runners: list[web.AppRunner],
) -> None:
    key = "sk-proj-" + "Ab1" * 10

    async def unauthorized(request: web.Request) -> web.Response:
        body = {"error": {"message": f"Incorrect API key provided: {key}.", "code": "bad"}}
        return web.json_response(body, status=401)

    url = await _serve(unauthorized, runners)
    pool = UpstreamPool(Timeouts(connect=1.0, first_byte=2.0))
    try:
        async with pool.open(UpstreamRequest(url, {}, b"{}"), "openai") as resp:
            err = await pool.read_error(OpenAICodec(), resp, "openai")
    finally:
        await pool.close()
    assert err.message == f"Incorrect API key provided: {PLACEHOLDER}."
    assert (err.status, err.code) == (401, "bad")
