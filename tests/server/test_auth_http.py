"""Virtual keys over HTTP, in process (the runtime ``plano up`` builds, a stub upstream):
401/403 in each client shape, before the body is read; the other model-API endpoints need
a key, the probes do not; the keys admin API (create, list, show, revoke: at once in this
process); the audit trail of requests and admin actions, never holding a key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from tests.server.support import MESSAGES, Stub

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.server.edge import EdgeRunner, EdgeSettings
from plano.server.runner import build_gateway

STATIC = "static-key-for-tests-0123456789"


def config(stub: Stub, auth: dict[str, Any] | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": stub.url},
            {"model": "openai/gpt-4o", "access_key": "k", "base_url": stub.url},
        ],
        "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}},
    }
    if auth is not None:
        raw["auth"] = auth
    return raw


Serve = Callable[[dict[str, Any] | None], Any]


@pytest.fixture
async def serve(stub: Stub) -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(auth: dict[str, Any] | None) -> str:
        cfg, issues = check_config(config(stub, auth), {})
        assert cfg is not None, issues
        app = build_gateway(cfg, TokenCounter()).app()
        runner = EdgeRunner(app, EdgeSettings(), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for r in runners:
        await r.cleanup()


AUTH = {
    "keys": [
        {
            "id": "ci",
            "key": STATIC,
            "principal": {"user": "ci-bot", "team": "platform"},
            "models": ["fast"],
        }
    ]
}


@pytest.fixture
async def url(serve: Serve) -> str:
    base: str = await serve(AUTH)
    return base


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def chat(
    client: aiohttp.ClientSession, url: str, model: str = "fast", **headers: str
) -> tuple[int, dict[str, Any]]:
    body = {"model": model, "messages": MESSAGES}
    async with client.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def messages(
    client: aiohttp.ClientSession, url: str, model: str = "fast", **headers: str
) -> tuple[int, dict[str, Any]]:
    body = {"model": model, "max_tokens": 10, "messages": MESSAGES}
    async with client.post(f"{url}/v1/messages", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def admin(
    client: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with client.request(method, url, json=body) as resp:
        return resp.status, await resp.json()


async def audit(client: aiohttp.ClientSession, url: str, query: str = "") -> list[dict[str, Any]]:
    status, page = await admin(client, "GET", f"{url}/plano/v1/audit{query}")
    assert status == 200, page
    events: list[dict[str, Any]] = page["data"]
    return events


async def settled(client: aiohttp.ClientSession, url: str, n: int, query: str = "") -> list[Any]:
    """The audit events once ``n`` are there (requests are audited after their answer)."""
    for _ in range(200):
        events = await audit(client, url, query)
        if len(events) >= n:
            return events
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {n} audit events, got {len(events)}")


async def test_no_key_is_a_401_in_each_shape(url: str, client: aiohttp.ClientSession) -> None:
    status, body = await chat(client, url)
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "missing_api_key"
    status, body = await messages(client, url)
    assert status == 401
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"


async def test_a_refused_request_is_refused_before_its_body(
    url: str, client: aiohttp.ClientSession, stub: Stub
) -> None:
    async with client.post(f"{url}/v1/chat/completions", data=b"{not json") as resp:
        assert resp.status == 401  # not a 400: the body was never read
    assert stub.seen == []


async def test_a_static_key_works_for_its_models_only(
    url: str, client: aiohttp.ClientSession
) -> None:
    status, body = await chat(client, url, authorization=f"Bearer {STATIC}")
    assert status == 200, body
    status, body = await messages(client, url, **{"x-api-key": STATIC})
    assert status == 200, body
    status, body = await chat(client, url, "openai/gpt-4o", authorization=f"Bearer {STATIC}")
    assert status == 403 and body["error"]["code"] == "model_not_allowed"
    assert body["error"]["type"] == "permission_error"
    status, body = await messages(client, url, "openai/gpt-4o", **{"x-api-key": STATIC})
    assert status == 403 and body["error"]["type"] == "permission_error"


async def test_other_endpoints_need_a_key_and_probes_do_not(
    url: str, client: aiohttp.ClientSession
) -> None:
    for path in ("/v1/models", "/v1/responses/resp_x"):
        async with client.get(url + path) as resp:
            assert resp.status == 401, path
    async with client.post(url + "/v1/messages/count_tokens", data=b"{}") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["type"] == "authentication_error"
    async with client.post(url + "/routing/v1/chat/completions", json={}) as resp:
        assert resp.status == 401
    async with client.get(url + "/v1/models", headers={"x-api-key": STATIC}) as resp:
        assert resp.status == 200
    for path in ("/healthz", "/plano/v1/status"):
        async with client.get(url + path) as resp:
            assert resp.status == 200, path
    async with client.get(url + "/readyz") as resp:
        assert resp.status in (200, 503)  # open; ready or not


async def test_keys_made_listed_used_and_revoked(url: str, client: aiohttp.ClientSession) -> None:
    status, made = await admin(
        client,
        "POST",
        f"{url}/plano/v1/keys",
        {"user": "alice", "team": "red", "models": ["openai/*"], "expires_in": "30d"},
    )
    assert status == 201, made
    key, kid = made["key"], made["id"]
    assert key.startswith("pk-") and made["enforced"] is True and made["expires_at"] > 0
    status, body = await chat(client, url, "openai/gpt-4o", authorization=f"Bearer {key}")
    assert status == 200, body
    status, listing = await admin(client, "GET", f"{url}/plano/v1/keys?team=red")
    assert [k["id"] for k in listing["data"]] == [kid]
    status, every = await admin(client, "GET", f"{url}/plano/v1/keys")
    assert [k["id"] for k in every["data"]] == ["ci", kid]  # static keys first
    assert key not in orjson.dumps(every).decode() and "key_hash" not in every["data"][1]
    status, one = await admin(client, "GET", f"{url}/plano/v1/keys/{kid}")
    assert status == 200 and one["user"] == "alice" and one["hint"].endswith(key[-4:])
    status, gone = await admin(client, "DELETE", f"{url}/plano/v1/keys/{kid}")
    assert status == 200 and gone["revoked"] is True and gone["revoked_at"] > 0
    status, body = await chat(client, url, "openai/gpt-4o", authorization=f"Bearer {key}")
    assert status == 401 and body["error"]["code"] == "revoked_api_key"  # at once, here
    status, body = await admin(client, "DELETE", f"{url}/plano/v1/keys/ci")
    assert status == 409 and body["error"]["code"] == "static_key"
    status, body = await admin(client, "DELETE", f"{url}/plano/v1/keys/nope")
    assert status == 404
    status, body = await admin(client, "POST", f"{url}/plano/v1/keys", {"id": "ci"})
    assert status == 409
    status, body = await admin(client, "POST", f"{url}/plano/v1/keys", {"models": "fast"})
    assert status == 400 and body["error"]["param"] == "models"
    status, body = await admin(client, "POST", f"{url}/plano/v1/keys", {"id": "bad id"})
    assert status == 400


async def test_decisions_and_admin_actions_are_audited_without_secrets(
    url: str, client: aiohttp.ClientSession
) -> None:
    wrong = "pk-" + "A" * 43
    sent = {
        "ok-1": ("fast", {"authorization": f"Bearer {STATIC}"}),
        "no-1": ("openai/gpt-4o", {"x-api-key": STATIC}),
        "bad-1": ("fast", {"authorization": f"Bearer {wrong}"}),
    }
    ours = {}  # the audit trail keys on the gateway's own request id (x-plano-request-id)
    for rid, (model, headers) in sent.items():
        body = {"model": model, "messages": MESSAGES}
        hdrs = {"x-request-id": rid, **headers}
        async with client.post(f"{url}/v1/chat/completions", json=body, headers=hdrs) as resp:
            assert resp.headers["x-request-id"] == rid
            ours[rid] = resp.headers["x-plano-request-id"]
    _, made = await admin(client, "POST", f"{url}/plano/v1/keys", {"id": "tmp"})
    await admin(client, "DELETE", f"{url}/plano/v1/keys/tmp")
    events = await settled(client, url, 5)
    by_request = {e["request_id"]: e for e in events if e["kind"] == "request"}
    ok, no, bad = (by_request[ours[rid]] for rid in ("ok-1", "no-1", "bad-1"))
    assert (ok["action"], ok["principal"], ok["user"], ok["team"]) == (
        "allow",
        "ci",
        "ci-bot",
        "platform",
    )
    assert ok["model"] == "openai/gpt-4o-mini" and ok["status"] == 200 and ok["listener"] == "llm"
    assert len(ok["trace_id"]) == 32
    assert (no["action"], no["rule"], no["status"], no["model_requested"]) == (
        "deny",
        "model_not_allowed",
        403,
        "openai/gpt-4o",
    )
    assert (bad["action"], bad["rule"], bad["principal"], bad["status"]) == (
        "deny",
        "unknown",
        "anonymous",
        401,
    )
    actions = [(e["action"], e["target"]) for e in events if e["kind"] == "admin"]
    assert actions == [("key.revoke", "tmp"), ("key.create", "tmp")]
    text = orjson.dumps(events).decode()
    assert STATIC not in text and made["key"] not in text and wrong not in text
    denied = await audit(client, url, "?action=deny&limit=1")
    assert len(denied) == 1 and denied[0]["request_id"] == ours["bad-1"]
    found = await audit(client, url, f"?request_id={ours['ok-1']}")
    assert [e["id"] for e in found] == [ours["ok-1"] + "/0"]
    by_client = await audit(client, url, "?request_id=ok-1")  # the client's id finds it too
    assert [(e["id"], e["client_request_id"]) for e in by_client] == [(ours["ok-1"] + "/0", "ok-1")]
    assert len(await audit(client, url, "?source=admin")) == 2
    async with client.get(f"{url}/plano/v1/audit?since=yesterday") as resp:
        assert resp.status == 400


async def test_without_auth_the_gateway_is_open_as_before(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    url = await serve(None)
    status, body = await chat(client, url)
    assert status == 200, body
    status, made = await admin(client, "POST", f"{url}/plano/v1/keys", {})
    assert status == 201 and made["enforced"] is False
    await asyncio.sleep(0.05)
    assert [e["kind"] for e in await audit(client, url)] == ["admin"]  # requests: no decisions


async def raw_request(url: str, header: bytes) -> tuple[int, bytes]:
    """One request with a header line as given (bytes no HTTP client would send)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = orjson.dumps({"model": "fast", "messages": MESSAGES})
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + header
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe\xfd-not-utf8",
        "Authorization: Bearer cl\u00e9-\u00fcnicode".encode(),
        b"Authorization: Bearer",
        b"Authorization: Bearer " + b"k" * 4000,
        b"x-api-key: " + b"k" * 8000,
    ],
)
async def test_malformed_key_headers_are_401s_never_500s(url: str, header: bytes) -> None:
    status, body = await raw_request(url, header)
    assert status == 401, body
    assert orjson.loads(body)["error"]["type"] == "authentication_error"


async def test_a_head_past_the_servers_limit_is_a_json_4xx(url: str) -> None:
    # 10 KB in one header is past the server's 8 KB field limit: the edge answers before
    # any route (and so before auth), as JSON the SDKs read.
    status, body = await raw_request(url, b"Authorization: Bearer " + b"k" * 10_240)
    assert 400 <= status < 500, body
    assert orjson.loads(body)["error"]["message"]
