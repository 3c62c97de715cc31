"""The topics endpoints over a memory store: who may publish and subscribe, limits, JSON
replay, SSE by offset (Last-Event-ID) and by consumer group with acknowledgement."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.config.agent_run import PubSubSettings, TopicRule
from plano.pubsub.identity import Identities
from plano.server.pubsub_api import TopicsAPI
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import StoreUnavailable

AGENT = {"authorization": "Bearer pat-booker"}


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    settings = PubSubSettings(
        topics=[TopicRule(name="bookings", publish=["booker"], subscribe=["*"])], max_message=64
    )
    ids = Identities(lambda t: "booker" if t == "pat-booker" else None, {}, "adm")
    api = TopicsAPI(
        MemoryTopics(visibility=0.3), settings, ids, auth_required=False, draining=lambda: False
    )
    app = web.Application()
    app.add_routes(api.routes())
    async with TestClient(TestServer(app)) as c:
        yield c


async def _events(resp: Any, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if len(out) == count:
                    break
    resp.close()
    return out


async def test_who_may_publish(client: TestClient[Any, Any]) -> None:
    ok = await client.post("/v1/topics/bookings", json={"n": 1}, headers=AGENT)
    assert ok.status == 202 and (await ok.json())["id"] == "1"
    anonymous = await client.post("/v1/topics/bookings", json={"n": 2})
    assert anonymous.status == 403
    assert (await anonymous.json())["error"]["code"] == "topic_not_allowed"
    admin = await client.post("/v1/topics/bookings", data=b"x", headers={"x-plano-key": "adm"})
    assert admin.status == 202
    unnamed = await client.post("/v1/topics/other", data=b"x", headers=AGENT)
    assert unnamed.status == 403
    bad = await client.post("/v1/topics/a%20b", data=b"x", headers=AGENT)
    assert bad.status == 400
    big = await client.post("/v1/topics/bookings", data=b"x" * 65, headers=AGENT)
    assert big.status == 413
    stored = await (await client.get("/v1/topics/bookings/messages?after=0")).json()
    assert [m["data"] for m in stored["messages"]] == [{"n": 1}, "x"]
    assert stored["messages"][0]["publisher"] == "booker"
    assert stored["messages"][1]["publisher"] == "admin"


async def test_sse_resumes_after_the_last_event_id(client: TestClient[Any, Any]) -> None:
    for n in range(3):
        await client.post("/v1/topics/bookings", json={"n": n}, headers=AGENT)
    first = await _events(await client.get("/v1/topics/bookings?after=0"), 1)
    assert first[0]["data"] == {"n": 0}
    resumed = await client.get("/v1/topics/bookings", headers={"last-event-id": first[0]["id"]})
    assert [e["data"]["n"] for e in await _events(resumed, 2)] == [1, 2]
    # No offset: from now on only.
    live = await client.get("/v1/topics/bookings")
    await asyncio.sleep(0.1)
    await client.post("/v1/topics/bookings", json={"n": 3}, headers=AGENT)
    assert [e["data"]["n"] for e in await _events(live, 1)] == [3]


async def test_group_delivery_is_redelivered_until_acknowledged(
    client: TestClient[Any, Any],
) -> None:
    sub = await client.get("/v1/topics/bookings?group=g&consumer=c1")
    await asyncio.sleep(0.1)  # the group starts at its first poll
    await client.post("/v1/topics/bookings", json={"n": 1}, headers=AGENT)
    got = await _events(sub, 1)
    assert got[0]["deliveries"] == 1
    # Not acknowledged: after the visibility timeout the group delivers it again.
    again = await _events(await client.get("/v1/topics/bookings?group=g&consumer=c2"), 1)
    assert again[0]["id"] == got[0]["id"] and again[0]["deliveries"] == 2
    acked = await client.post("/v1/topics/bookings/ack", json={"group": "g", "ids": [got[0]["id"]]})
    assert (await acked.json()) == {"acked": 1}
    await client.post("/v1/topics/bookings", json={"n": 2}, headers=AGENT)
    after = await _events(await client.get("/v1/topics/bookings?group=g&auto_ack=1"), 1)
    assert after[0]["data"] == {"n": 2}
    bad = await client.post("/v1/topics/bookings/ack", json={"ids": "x"})
    assert bad.status == 400


def _open_client(topics: MemoryTopics, *, auth_required: bool) -> TestClient[Any, Any]:
    """The endpoints without topic rules or identities."""
    api = TopicsAPI(topics, None, Identities(), auth_required=auth_required, draining=lambda: False)
    app = web.Application()
    app.add_routes(api.routes())
    return TestClient(TestServer(app))


async def test_auth_required_refuses_anonymous_callers() -> None:
    async with _open_client(MemoryTopics(), auth_required=True) as c:
        resp = await c.post("/v1/topics/t", data=b"x")
        assert resp.status == 401


class _DownTopics(MemoryTopics):
    async def publish(self, topic: str, payload: bytes, headers: Any = None) -> str:
        raise StoreUnavailable("redis: connection refused")


async def test_errors_are_in_the_openai_shape_and_a_store_down_is_a_503() -> None:
    async with _open_client(_DownTopics(), auth_required=False) as c:
        down = await c.post("/v1/topics/t", data=b"x")
        assert down.status == 503
        error = (await down.json())["error"]
        assert error["type"] == "overloaded_error" and "connection refused" in error["message"]
        assert set(error) == {"message", "type", "param", "code"}
        bad = await c.get("/v1/topics/t/messages", params={"limit": "many"})
        assert bad.status == 400 and (await bad.json())["error"]["type"] == "invalid_request_error"


async def test_a_token_that_is_not_utf8_is_anonymous_not_a_crash(
    client: TestClient[Any, Any],
) -> None:
    assert client.server.host is not None and client.server.port is not None
    r, w = await asyncio.open_connection(client.server.host, client.server.port)
    w.write(
        b"POST /v1/topics/bookings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Content-Length: 1\r\nConnection: close\r\n\r\nx"
    )
    await w.drain()
    head = await r.read()
    w.close()
    assert head.startswith(b"HTTP/1.1 403"), head[:200]
    assert b"anonymous may not publish" in head


class _CountingTopics(MemoryTopics):
    """Counts store calls: an ack is one call, "from now" reads no history."""

    def __init__(self) -> None:
        super().__init__(visibility=30.0)
        self.acks: list[list[str]] = []
        self.replayed_from: list[str | None] = []

    async def ack(self, topic: str, group: str, ids: Any) -> None:
        self.acks.append(list(ids))
        await super().ack(topic, group, ids)

    def replay(self, topic: str, after: str | None = None, limit: int = 1000) -> Any:
        self.replayed_from.append(after)
        return super().replay(topic, after, limit)


def _limited_client(topics: MemoryTopics, **limits: int) -> TestClient[Any, Any]:
    api = TopicsAPI(
        topics, PubSubSettings(**limits), Identities(), auth_required=False, draining=lambda: False
    )
    app = web.Application()
    app.add_routes(api.routes())
    return TestClient(TestServer(app))


async def test_an_acknowledgement_of_many_ids_is_one_store_call() -> None:
    topics = _CountingTopics()
    async with _limited_client(topics) as c:
        sub = await c.get("/v1/topics/t?group=g&consumer=c1")
        await asyncio.sleep(0.1)
        for n in range(3):
            await c.post("/v1/topics/t", json={"n": n})
        got = await _events(sub, 3)
        ids = [e["id"] for e in got]
        acked = await c.post("/v1/topics/t/ack", json={"group": "g", "ids": ids})
        assert (await acked.json()) == {"acked": 3}
        assert topics.acks == [ids]
        bad = await c.post("/v1/topics/t/ack", json={"group": "g", "ids": ["1", "x"]})
        assert bad.status == 400
        assert topics._topics["t"].groups["g"].pending == {}


async def test_a_subscription_from_now_reads_no_history() -> None:
    topics = _CountingTopics()
    for n in range(2000):
        await topics.publish("t", b"old %d" % n)
    async with _limited_client(topics) as c:
        live = await c.get("/v1/topics/t")
        await asyncio.sleep(0.1)
        await c.post("/v1/topics/t", json={"n": "new"})
        assert [e["data"] for e in await _events(live, 1)] == [{"n": "new"}]
    assert topics.replayed_from[0] == "2000"  # straight from the newest id


async def test_groups_and_consumers_per_topic_are_bounded() -> None:
    topics = MemoryTopics()
    async with _limited_client(topics, max_groups=2, max_consumers=2) as c:
        for group in ("a", "b"):
            (await c.get(f"/v1/topics/t?group={group}&consumer=x")).close()
            await asyncio.sleep(0.05)
        third = await c.get("/v1/topics/t?group=c&consumer=x")
        assert third.status == 429
        assert (await third.json())["error"]["code"] == "too_many_groups"
        (await c.get("/v1/topics/t?group=a&consumer=y")).close()  # an existing group: room
        await asyncio.sleep(0.05)
        full = await c.get("/v1/topics/t?group=a&consumer=z")
        assert full.status == 429
        assert (await full.json())["error"]["code"] == "too_many_consumers"
        again = await c.get("/v1/topics/t?group=a&consumer=y")  # a known name comes back
        assert again.status == 200
        again.close()
        # Made-up consumer names are forgotten when their subscription ends.
        for _ in range(5):
            sub = await c.get("/v1/topics/t?group=b")
            assert sub.status == 200
            sub.close()
            await asyncio.sleep(0.1)
        assert (await topics.members("t"))["b"] == {"x"}
