"""count_tokens and the stored-response endpoints, on a bare aiohttp app (127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.accounting.tokens import TokenCounter
from plano.server.shape_routes import count_tokens_routes, responses_routes
from plano.state import MemoryResponseStore, StoredResponse


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    store = MemoryResponseStore()
    await store.put(StoredResponse("resp_1", 0, {"id": "resp_1", "object": "response"}, []))
    app = web.Application()
    app.router.add_routes(count_tokens_routes(TokenCounter()) + responses_routes(store))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_count_tokens(client: TestClient[web.Request, web.Application]) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "system": "You are a scientist",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
    }
    r = await client.post("/v1/messages/count_tokens", json=body)
    assert r.status == 200 and (await r.json())["input_tokens"] > 0


@pytest.mark.parametrize(
    ("data", "param"), [(b"{nope", "invalid_json"), (b'{"messages": []}', "messages")]
)
async def test_count_tokens_errors_are_anthropic_shaped(
    client: TestClient[web.Request, web.Application], data: bytes, param: str
) -> None:
    r = await client.post("/v1/messages/count_tokens", data=data)
    body = await r.json()
    assert r.status == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


async def test_get_and_delete(client: TestClient[web.Request, web.Application]) -> None:
    r = await client.get("/v1/responses/resp_1")
    assert r.status == 200 and (await r.json())["id"] == "resp_1"
    r = await client.delete("/v1/responses/resp_1")
    assert (await r.json()) == {"id": "resp_1", "object": "response", "deleted": True}
    r = await client.get("/v1/responses/resp_1")
    assert r.status == 404 and (await r.json())["error"]["type"] == "not_found_error"
    assert (await client.delete("/v1/responses/resp_1")).status == 404
