"""Admin endpoints under hostile input: numbers past the stores' integers and paths holding
an encoded newline get a JSON error, never a 500 or aiohttp's text/plain page."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tests.server.support import GW

from plano.config import check_config
from plano.errors import InvalidRequest
from plano.server.admin import not_found_route, usage_query
from plano.server.edge import HostPolicy

HUGE = "9" * 30


@pytest.mark.parametrize("name", ["status_min", "limit", "last"])
def test_usage_numbers_past_64_bits_are_invalid(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        usage_query({name: HUGE})
    assert caught.value.param == name


async def test_usage_with_a_huge_status_min_is_a_400(gw: GW, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{gw.url}/plano/v1/usage?status_min={HUGE}") as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"]["param"] == "status_min"


@pytest.mark.parametrize("path", ["/x%0ay", "/plano/v1/nope%0d%0aSet-Cookie:%20a=b", "/%0a"])
async def test_unknown_paths_with_newlines_answer_json(
    gw: GW, client: aiohttp.ClientSession, path: str
) -> None:
    async with client.get(gw.url + path) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert "set-cookie" not in resp.headers


async def test_the_admin_listeners_catch_all_matches_newlines() -> None:
    app = web.Application()
    app.router.add_routes([not_found_route()])
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        resp = await c.get("/a%0ab")
        assert resp.status == 404 and resp.content_type == "application/json"
        assert (await resp.json())["error"]["code"] == "unknown_url"


def test_a_non_ascii_admin_key_never_crashes_the_guard() -> None:
    """A policy built without the config's checks (an embedder): still a 401, not a 500."""
    policy = HostPolicy.build("127.0.0.1", admin_key="ключ-админа-1234567890")
    refused = policy.admin_refusal({"authorization": "Bearer guess"})
    assert refused is not None and refused.status == 401
    assert policy.admin_refusal({"x-plano-admin-key": "ключ"}) is not None


@pytest.mark.parametrize("key", ["ключ-админа-1234567890", "", "  padded-key  ", "tab\tkey"])
def test_the_config_refuses_an_admin_key_no_client_can_send(tmp_path: Path, key: str) -> None:
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "gateway": {"admin_key": "$ADMIN"},
    }
    config, issues = check_config(data, {"ADMIN": key}, tmp_path)
    assert config is None
    assert [i.path for i in issues] == ["gateway.admin_key"]
    if key.strip():
        assert key.strip() not in " ".join(str(i) for i in issues)  # the key is not echoed


async def test_a_repeated_client_request_id_still_counts_every_request(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    from tests.server.support import MESSAGES, post

    for _ in range(3):
        status, _, raw = await post(
            client,
            gw.url,
            {"model": "fast", "messages": MESSAGES},
            headers={"x-request-id": "same"},
        )
        assert status == 200, raw
    await gw.record(3)
    async with client.get(gw.url + "/plano/v1/usage") as resp:
        assert (await resp.json())["totals"]["requests"] == 3


@pytest.mark.parametrize(
    "line",
    [
        b"Authorization: Bearer sk-SECRET-abc\x01def",
        b"x-api-key: sk-SECRET-xyz\x7f",
        b"Authorization Bearer sk-SECRET-nocolon",
        b"x-plano-key: sk-SECRET-lf\nfoo: bar",
    ],
)
async def test_a_malformed_credential_header_is_not_logged_or_echoed(
    gw: GW, line: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's parser quotes the offending header line in its message: the edge keeps only
    the reason, so a client's key never reaches the log (nor a proxy logging the answer)."""
    caplog.set_level(logging.DEBUG)
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n" + line + b"\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert raw.split(b" ", 2)[1] == b"400", raw
    body = orjson.loads(raw.partition(b"\r\n\r\n")[2])
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Malformed HTTP request: ")
    assert b"SECRET" not in raw
    assert "SECRET" not in caplog.text
