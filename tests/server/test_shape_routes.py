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


async def test_count_tokens_counts_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 9 MB prompt once held every other client for seconds while it was tokenized."""
    import threading

    counter = TokenCounter()
    threads: list[str] = []
    real = counter.count_request

    def spy(*args: object, **kw: object) -> int:
        threads.append(threading.current_thread().name)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(counter, "count_request", spy)
    app = web.Application()
    app.router.add_routes(count_tokens_routes(counter))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
        r = await c.post("/v1/messages/count_tokens", json=body)
        assert r.status == 200
    assert threads and threading.main_thread().name not in threads


async def test_count_tokens_over_the_body_limit_is_anthropic_json() -> None:
    app = web.Application(client_max_size=1000)
    app.router.add_routes(count_tokens_routes(TokenCounter()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        r = await c.post("/v1/messages/count_tokens", data=b'{"x": "' + b"a" * 5000 + b'"}')
        assert r.status == 413
        body = await r.json()
    assert body["type"] == "error" and body["error"]["message"]
