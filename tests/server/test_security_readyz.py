"""``/readyz`` answers anyone (load balancers send no key) but only the admin sees each
store's target and error: an anonymous caller gets ``ready`` and ``state`` alone."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.server.admin import runtime_routes
from plano.server.edge import HostPolicy, guard_middleware

ADMIN = "admin-key-for-readyz-0123456789"
DETAILS = {
    "ready": False,
    "state": "ready",
    "stores": {"durable": {"target": "postgresql://db.internal:5432/plano", "error": "refused"}},
}


def _readiness() -> tuple[bool, dict[str, Any]]:
    return True, {**DETAILS, "ready": True}


def _client(policy: HostPolicy) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[guard_middleware(policy)])
    app.router.add_routes(runtime_routes(dict, _readiness))
    return TestClient(TestServer(app, host="127.0.0.1"))


async def test_anonymous_gets_status_only_and_the_admin_key_the_details() -> None:
    policy = HostPolicy.build("0.0.0.0", admin_key=ADMIN)
    async with _client(policy) as c:
        resp = await c.get("/readyz")
        assert resp.status == 200
        assert await resp.json() == {"ready": True, "state": "ready"}
        resp = await c.get("/readyz", headers={"authorization": "Bearer wrong"})
        assert "stores" not in await resp.json()
        resp = await c.get("/readyz", headers={"x-plano-admin-key": ADMIN})
        body = await resp.json()
        assert body["stores"]["durable"]["target"].startswith("postgresql://")


async def test_a_public_listener_without_an_admin_key_shows_no_details() -> None:
    async with _client(HostPolicy.build("0.0.0.0")) as c:
        assert set(await (await c.get("/readyz")).json()) == {"ready", "state"}


async def test_a_loopback_listener_without_an_admin_key_shows_them_as_its_admin_api_does() -> None:
    async with _client(HostPolicy.build("127.0.0.1")) as c:
        assert "stores" in await (await c.get("/readyz")).json()
