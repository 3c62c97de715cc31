"""What a filter receives besides the body, and the pooled client's errors."""

from __future__ import annotations

import pytest
from aiohttp import web

from plano.core.trace import TraceContext
from plano.filters.client import FilterClient, filter_headers
from plano.filters.errors import FilterFailed
from plano.pipeline.context import RequestContext


def _ctx(headers: dict[str, str]) -> RequestContext:
    trace = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", state="k=v")
    return RequestContext("req_7", "openai_chat", headers, trace=trace)


CLIENT = {
    "authorization": "Bearer sk-client",
    "x-api-key": "sk-ant",
    "cookie": "s=1",
    "content-length": "42",
    "content-type": "application/json",
    "connection": "keep-alive, x-hop",
    "x-hop": "1",
    "transfer-encoding": "chunked",
    "host": "gateway:12000",
    "x-plano-admin-key": "admin",
    "x-request-id": "theirs",
    "x-team": "blue",
    "user-agent": "sdk/1",
}


def test_headers_drop_hop_by_hop_own_and_credentials() -> None:
    out = filter_headers(_ctx(CLIENT), "guard", forward_auth=False)
    trace = out.pop("traceparent").split("-")
    assert trace[1] == "0af7651916cd43dd8448eb211c80319c"
    assert trace[2] != "b7ad6b7169203331"  # a span of the filter call's own
    assert out == {
        "x-team": "blue",
        "user-agent": "sdk/1",
        "tracestate": "k=v",
        "x-request-id": "req_7",
        "x-arch-upstream": "guard",
    }


def test_forward_auth_keeps_credentials() -> None:
    out = filter_headers(_ctx(CLIENT), "guard", forward_auth=True)
    assert out["authorization"] == "Bearer sk-client"
    assert out["x-api-key"] == "sk-ant" and out["cookie"] == "s=1"


async def test_a_redirect_is_not_followed() -> None:
    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/")

    app = web.Application()
    app.router.add_post("/f", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = FilterClient()
    try:
        reply = await client.post(
            "f", f"http://127.0.0.1:{runner.addresses[0][1]}/f", b"{}", {}, 5.0
        )
        assert reply.status == 302
    finally:
        await client.close()
        await runner.cleanup()


async def test_an_oversized_reply_is_a_failure() -> None:
    async def big(_request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2048)

    app = web.Application()
    app.router.add_post("/f", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = FilterClient(max_reply=1024)
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/f"
        with pytest.raises(FilterFailed, match="its reply is larger than 1024 bytes"):
            await client.post("f", url, b"{}", {}, 5.0)
    finally:
        await client.close()
        await runner.cleanup()


async def test_the_session_closes_with_its_last_user() -> None:
    client = FilterClient()
    client.acquire()
    client.acquire()
    session = client._open()
    await client.release()
    assert not session.closed
    await client.release()
    assert session.closed
