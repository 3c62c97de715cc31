"""Reading request bodies: size, time and the budget of bytes being received at once."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.errors import PlanoError
from plano.server.body import BodyReader


async def _serve(reader: BodyReader) -> TestClient[web.Request, web.Application]:
    async def handler(request: web.Request) -> web.Response:
        try:
            raw = await reader.read(request)
        except PlanoError as err:
            return web.json_response({"code": err.code}, status=err.status)
        return web.json_response({"bytes": len(raw)})

    app = web.Application(client_max_size=reader.max_body)
    app.router.add_post("/", handler)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_bodies_past_the_buffer_budget_are_refused_while_others_are_read() -> None:
    reader = BodyReader(max_body=1000, timeout=5, budget=1500)
    client = await _serve(reader)
    release = asyncio.Event()

    async def slow_body() -> None:
        async def gen():  # type: ignore[no-untyped-def]
            yield b"x" * 10
            await release.wait()
            yield b"x" * 890

        await client.post("/", data=gen(), headers={"content-length": "900"})

    slow = asyncio.create_task(slow_body())
    for _ in range(100):
        if reader.reading:
            break
        await asyncio.sleep(0.01)
    assert reader.reading == 900
    r = await client.post("/", data=b"y" * 700)  # 900 + 700 > 1500
    assert r.status == 503 and (await r.json())["code"] == "body_budget"
    r = await client.post("/", data=b"y" * 500)  # 900 + 500 fits
    assert r.status == 200
    release.set()
    await slow
    assert reader.reading == 0
    await client.close()


@pytest.mark.parametrize(("data", "status"), [(b"z" * 2000, 413), (b"", 400)])
async def test_size_and_emptiness(data: bytes, status: int) -> None:
    client = await _serve(BodyReader(max_body=1000, timeout=5))
    r = await client.post("/", data=data)
    assert r.status == status
    await client.close()
