"""The HTTP edge: Host/Origin guard, admin key, malformed HTTP as JSON, slow and greedy clients,
and the admission order (a slot is taken only once a body is in)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
import pytest
from tests.server.support import GW, MESSAGES, GatewayFactory, Stub, error_of, post

from plano.server.edge import EdgeSettings, HostPolicy, is_loopback
from plano.server.gateway import GatewaySettings

# ---------------------------------------------------------------- the policy (pure)


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")


def test_a_loopback_listener_answers_only_to_loopback_names() -> None:
    p = HostPolicy.build("127.0.0.1")
    for host in ("localhost:12000", "127.0.0.1:12000", "[::1]:12000", "app.localhost:1"):
        assert p.host_allowed(host), host
    assert not p.host_allowed("evil.example.com:12000")  # DNS rebinding
    assert not p.host_allowed(None)


def test_a_public_listener_answers_any_name_unless_configured() -> None:
    assert HostPolicy.build("0.0.0.0").host_allowed("gw.internal:12000")
    p = HostPolicy.build("0.0.0.0", hosts=["gw.internal"])
    assert p.host_allowed("gw.internal:12000") and not p.host_allowed("other:12000")


def test_origins() -> None:
    p = HostPolicy.build("127.0.0.1", origins=["https://app.example.com"])
    assert p.origin_allowed(None)  # API clients send no Origin
    assert p.origin_allowed("https://app.example.com")
    assert not p.origin_allowed("https://evil.example.com")
    # DNS rebinding from a public listener: the page's Origin matches its Host; still refused.
    public = HostPolicy.build("0.0.0.0")
    assert public.host_allowed("evil.com:12000") and not public.origin_allowed(
        "http://evil.com:12000"
    )
    assert HostPolicy.build("127.0.0.1", origins=["*"]).origin_allowed("https://x.y")


def test_admin_key() -> None:
    assert HostPolicy.build("127.0.0.1").admin_refusal({}) is None
    refused = HostPolicy.build("0.0.0.0").admin_refusal({})
    assert refused is not None and refused.status == 403
    keyed = HostPolicy.build("0.0.0.0", admin_key="adm-123")
    assert keyed.admin_refusal({"authorization": "Bearer adm-123"}) is None
    assert keyed.admin_refusal({"x-plano-admin-key": "adm-123"}) is None
    wrong = keyed.admin_refusal({"authorization": "Bearer nope"})
    assert wrong is not None and wrong.status == 401
    # Non-UTF-8 header bytes (surrogates after aiohttp's decoding) are refused, not a crash.
    odd = keyed.admin_refusal({"x-plano-admin-key": "adm-\udcff"})
    assert odd is not None and odd.status == 401


# ---------------------------------------------------------------- through the server


async def test_foreign_host_and_cross_site_origin_are_refused(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    body = {"model": "fast", "messages": MESSAGES}
    status, _, raw = await post(client, gw.url, body, headers={"Host": "evil.example.com"})
    assert status == 403 and error_of(raw)["code"] == "host_not_allowed"
    status, _, raw = await post(client, gw.url, body, headers={"Origin": "https://evil.example"})
    assert status == 403 and error_of(raw)["code"] == "origin_not_allowed"
    status, _, _ = await post(client, gw.url, body)
    assert status == 200


async def test_admin_endpoints_need_the_key_when_one_is_set(
    make_gateway: GatewayFactory, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(policy=HostPolicy.build("127.0.0.1", admin_key="adm-secret"))
    async with client.get(gw.url + "/plano/v1/usage") as resp:
        assert resp.status == 401
        assert "adm-secret" not in await resp.text()
    auth = {"Authorization": "Bearer adm-secret"}
    async with client.get(gw.url + "/plano/v1/usage", headers=auth) as resp:
        assert resp.status == 200
    async with client.get(gw.url + "/healthz") as resp:  # not an admin path
        assert resp.status == 200


async def test_admin_endpoints_are_off_on_a_public_listener_without_a_key(
    make_gateway: GatewayFactory, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(policy=HostPolicy.build("0.0.0.0"))
    async with client.get(gw.url + "/plano/v1/usage") as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "admin_disabled"


async def test_wrong_method_on_messages_answers_in_anthropic_shape(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    async with client.get(gw.url + "/v1/messages") as resp:
        assert resp.status == 405
        body = await resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


async def _raw_exchange(url: str, data: bytes, read_timeout: float = 5.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(_read_response(reader), read_timeout)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One response (headers, then Content-Length bytes), without waiting for the close."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


def _split(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, orjson.loads(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Big: "
        + b"a" * 65536
        + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        + b"\r\n",
        b"NOT-HTTP\r\n\r\n",
    ],
    ids=["64kb-header", "200-headers", "garbage"],
)
async def test_malformed_http_answers_json_without_a_traceback(
    gw: GW, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, body = _split(await _raw_exchange(gw.url, request_bytes))
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    # Both SDKs find a message: OpenAI's error.message, Anthropic's type/error.type.
    assert body["type"] == "error" and body["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info is not None]


async def test_a_slow_request_head_is_cut_off(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(edge=EdgeSettings(header_timeout=0.3))
    raw = await _raw_exchange(gw.url, b"POST /v1/chat/completions HTTP/1.1\r\nHost: loc")
    status, _, body = _split(raw)
    assert status == 408 and body["error"]["code"] == "header_timeout"


async def test_connections_per_client_address_are_capped(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(edge=EdgeSettings(max_connections_per_client=3))
    host, port = gw.url.removeprefix("http://").split(":")
    held = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        status, _, body = _split(await asyncio.wait_for(_read_response(reader), 5))
        writer.close()
        assert status == 429 and body["error"]["code"] == "too_many_conns"
    finally:
        for _, w in held:
            w.close()
    await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as client, client.get(gw.url + "/healthz") as resp:
        assert resp.status == 200  # freed slots are usable again


async def test_stalled_bodies_take_no_in_flight_slot(
    make_gateway: GatewayFactory, client: aiohttp.ClientSession
) -> None:
    """Clients that send headers and a few bytes of body then stall held every slot; good
    clients got 503. Slots are now taken only once a body is in."""
    gw = await make_gateway(settings=GatewaySettings(max_in_flight=2, body_timeout=5))
    host, port = gw.url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(4):
        _r, w = await asyncio.open_connection(host, int(port))
        w.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model": '
        )
        await w.drain()
        stalled.append(w)
    await asyncio.sleep(0.1)
    status, _, _ = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 200
    for w in stalled:
        w.close()


async def test_a_body_that_never_finishes_times_out(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(settings=GatewaySettings(body_timeout=0.3))
    raw = await _raw_exchange(
        gw.url,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    status, _, body = _split(raw)
    assert status == 408 and body["error"]["code"] == "body_timeout"
    rec = (await gw.record(1))[0]
    assert rec.status == 408


async def test_values_nested_too_deeply_to_encode_are_a_400(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    deep = b'{"a":' * 300 + b'"x"' + b"}" * 300  # parses (orjson reads 1024 deep), cannot re-encode
    body = orjson.dumps({"model": "fast", "messages": MESSAGES})[:-1] + b',"extra":' + deep + b"}"
    status, _, raw = await post(client, gw.url, body)
    assert status == 400
    assert "nested too deeply" in error_of(raw)["message"]
    assert stub.seen == []
