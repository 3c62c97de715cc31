"""``/dashboard`` on a bare aiohttp app: the page and its assets with security and caching
headers, 304 on a matching ETag, the features list, unknown files as JSON 404s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.dashboard import build_table
from plano.server.dashboard import CSP, dashboard_routes

Client = TestClient[web.Request, web.Application]


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({})


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    admin = [web.get("/plano/v1/usage", _ok), web.post("/plano/v1/keys", _ok)]
    app = web.Application()
    admin += dashboard_routes(admin)
    admin.append(web.get("/plano/v1/traces", _ok))  # registered after the dashboard's
    app.router.add_routes(admin)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_the_page_has_a_strict_csp_and_is_revalidated(client: Client) -> None:
    r = await client.get("/dashboard/")
    assert r.status == 200 and r.content_type == "text/html"
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP and "connect-src 'self'" in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-cache"
    assert "<title>Plano dashboard</title>" in await r.text()


async def test_dashboard_without_slash_redirects(client: Client) -> None:
    r = await client.get("/dashboard", allow_redirects=False)
    assert r.status == 308 and r.headers["location"] == "/dashboard/"


async def test_assets_are_cached_and_revalidated_by_etag(client: Client) -> None:
    r = await client.get("/dashboard/app.js?v=whatever")
    assert r.status == 200 and r.content_type == "text/javascript"
    assert "immutable" in r.headers["cache-control"]
    etag = r.headers["etag"]
    again = await client.get("/dashboard/app.js", headers={"if-none-match": etag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["etag"] == etag
    other = await client.get("/dashboard/app.js", headers={"if-none-match": '"stale"'})
    assert other.status == 200


async def test_unknown_files_are_json_404s(client: Client) -> None:
    r = await client.get("/dashboard/nope.js")
    assert r.status == 404
    assert (await r.json())["error"]["code"] == "unknown_url"


@pytest.mark.parametrize("path", ["/dashboard/..%2fpyproject.toml", "/dashboard/static/app.js"])
async def test_only_names_in_the_table_are_served(client: Client, path: str) -> None:
    r = await client.get(path)
    assert r.status == 404 and b"[project]" not in await r.read()


async def test_features_list_the_admin_get_endpoints(client: Client) -> None:
    r = await client.get("/plano/v1/dashboard/features")
    endpoints = (await r.json())["endpoints"]
    # GET routes only, including one registered after the dashboard's
    assert endpoints == [
        "/plano/v1/dashboard/features",
        "/plano/v1/traces",
        "/plano/v1/usage",
    ]


async def test_a_given_table_is_served() -> None:
    table = build_table({"index.html": b"<p>{{x.css}}</p>", "x.css": b"p{}"})
    app = web.Application()
    app.router.add_routes(dashboard_routes([], table))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        body = await (await c.get("/dashboard/")).text()
        assert body.startswith("<p>x.css?v=")
        assert (await c.get("/dashboard/x.css")).status == 200
