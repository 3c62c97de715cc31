"""``python -m bench.pubsub``: what the topics API costs, in process on one event loop.

* publish: ``POST /v1/topics/{topic}`` (memory store, an agent token checked against a topic
  rule) against the floor: a bare aiohttp handler reading the same body and answering 202.
  Sequential keep-alive requests; p50 / p99 in microseconds.
* delivery: publish -> SSE event at a subscriber, by consumer group (the store wakes the
  subscriber) and by offset (``Last-Event-ID`` tail: the store's replay polled, 50 ms after a
  message, backing off to 500 ms when idle; one publish every 100 ms here).
Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from plano.config.agent_run import PubSubSettings, TopicRule
from plano.pubsub.identity import Identities
from plano.server.pubsub_api import TopicsAPI
from plano.store.memory_topics import MemoryTopics

BODY = json.dumps({"status": "booking confirmed", "request": "Rome, 2 nights"}).encode()
HEADERS = {"authorization": "Bearer pat-booker", "content-type": "application/json"}


def _app() -> web.Application:
    settings = PubSubSettings(
        topics=[TopicRule(name="bookings", publish=["booker"], subscribe=["*"])]
    )
    ids = Identities(lambda t: "booker" if t == "pat-booker" else None)
    api = TopicsAPI(MemoryTopics(), settings, ids, auth_required=False, draining=lambda: False)
    app = web.Application()
    app.add_routes(api.routes())

    async def floor(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "1", "topic": "bookings"}, status=202)

    app.router.add_post("/floor", floor)
    return app


def _pcts(samples: list[float]) -> dict[str, float]:
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
    }


async def _posts(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        async with session.post(url, data=BODY, headers=HEADERS) as resp:
            await resp.read()
        out.append(time.perf_counter() - t)
    return out


async def _delivery(session: aiohttp.ClientSession, base: str, query: str, n: int) -> list[float]:
    sent: dict[str, float] = {}
    got: list[float] = []
    async with session.get(f"{base}/v1/topics/bookings{query}") as sub:
        await sub.content.readline()  # ": subscribed"
        await asyncio.sleep(0.1)

        async def publish() -> None:
            for _ in range(n):
                t = time.perf_counter()
                async with session.post(
                    f"{base}/v1/topics/bookings", data=BODY, headers=HEADERS
                ) as r:
                    sent[(await r.json())["id"]] = t
                await asyncio.sleep(0.1)

        task = asyncio.create_task(publish())
        async for raw in sub.content:
            line = raw.decode()
            if line.startswith("data: "):
                got.append(time.perf_counter() - sent[json.loads(line[6:])["id"]])
                if len(got) == n:
                    break
        await task
    return got


async def main(n: int = 2000) -> dict[str, Any]:
    server = TestServer(_app())
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            await _posts(session, base + "/floor", 200)  # warm up
            await _posts(session, base + "/v1/topics/bookings", 200)
            floor = _pcts(await _posts(session, base + "/floor", n))
            publish = _pcts(await _posts(session, base + "/v1/topics/bookings", n))
            group = _pcts(await _delivery(session, base, "?group=g&auto_ack=1", 30))
            offset = _pcts(await _delivery(session, base, "", 30))
    finally:
        await server.close()
    return {
        "floor_post": floor,
        "publish": publish,
        "deliver_group": group,
        "deliver_offset": offset,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=2))
