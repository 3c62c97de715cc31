"""Push delivery with retries and backoff, dead letters; envelopes and caller identity."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano.config.agent_run import AgentSubscription
from plano.pubsub.envelope import envelope, publish_headers, sse_event, valid_topic
from plano.pubsub.identity import Identities
from plano.pubsub.push import PushDelivery
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import Message


async def _agent(answers: list[int], got: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def events(request: web.Request) -> web.Response:
        got.append({"body": await request.json(), "delivery": request.headers["x-plano-delivery"]})
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_failed_push_is_retried_with_backoff_then_acknowledged() -> None:
    topics = MemoryTopics(visibility=0.2)
    got: list[dict[str, Any]] = []
    runner, url = await _agent([500, 503], got)
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    sub = AgentSubscription(topic="bookings", max_attempts=5, backoff=0.1)
    async with aiohttp.ClientSession() as session:
        push = PushDelivery(topics, "n", sub, lambda _a: [url], session=session, sleep=sleep)
        msg_id = await topics.publish(
            "bookings", b'{"ok": 1}', {"content-type": "application/json"}
        )
        msg = Message("bookings", msg_id, b'{"ok": 1}', 1, {"content-type": "application/json"})
        assert await push.deliver(msg)
    await runner.cleanup()
    assert [g["delivery"] for g in got] == ["1", "2", "3"]
    assert got[-1]["body"]["data"] == {"ok": 1} and got[-1]["body"]["id"] == msg_id
    assert sleeps == [0.1, 0.2]
    assert (push.stats.delivered, push.stats.retries) == (1, 2)


async def test_a_push_that_never_arrives_goes_to_the_dead_letter_topic() -> None:
    topics = MemoryTopics()
    sub = AgentSubscription(topic="t", max_attempts=3, backoff=0.01)

    async def sleep(_s: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        push = PushDelivery(topics, "gone", sub, lambda _a: [], session=session, sleep=sleep)
        assert not await push.deliver(Message("t", "1", b"x"))
    dead = [m async for m in topics.replay("dead-letter.t")]
    assert len(dead) == 1 and dead[0].payload == b"x"
    assert dead[0].headers["agent"] == "gone" and "no healthy replica" in dead[0].headers["error"]
    assert push.stats.dead_lettered == 1


async def test_the_push_task_consumes_the_group() -> None:
    topics = MemoryTopics()
    got: list[dict[str, Any]] = []
    runner, url = await _agent([], got)
    sub = AgentSubscription(topic="t")
    async with aiohttp.ClientSession() as session:
        push = PushDelivery(topics, "n", sub, lambda _a: [url], session=session)
        push.start()
        import asyncio

        await asyncio.sleep(0.05)  # the group starts at the end at its first poll
        for i in range(3):
            await topics.publish("t", str(i).encode())
        for _ in range(100):
            if len(got) == 3:
                break
            await asyncio.sleep(0.02)
        await push.close()
    await runner.cleanup()
    assert [g["body"]["data"] for g in got] == ["0", "1", "2"]


def test_envelopes_and_sse_events() -> None:
    msg = Message(
        "t", "7", b'{"a": [1]}', 2, {"content-type": "application/json", "publisher": "p"}
    )
    assert envelope(msg)["data"] == {"a": [1]} and envelope(msg)["publisher"] == "p"
    assert envelope(Message("t", "8", b"\xffhi"))["data"] == "\ufffdhi"
    event = sse_event(msg)
    assert event.startswith(b"id: 7\nevent: message\ndata: ") and event.endswith(b"\n\n")
    assert orjson.loads(event.split(b"data: ", 1)[1])["deliveries"] == 2
    assert valid_topic("bookings.eu-1") and not valid_topic("a/b") and not valid_topic("")
    kept = publish_headers({"content-type": "text/plain", "cookie": "c"}, "who")
    assert kept == {"content-type": "text/plain", "publisher": "who"}


def test_callers_are_agents_keys_or_admin() -> None:
    ids = Identities(
        lambda t: "booker" if t == "pat-1" else None, {"sk-static-1234567890": "ops"}, "adm"
    )
    assert ids.who({"authorization": "Bearer pat-1"}) == "booker"
    assert ids.who({"x-plano-key": "sk-static-1234567890"}) == "key:ops"
    assert ids.who({"authorization": "Bearer adm"}) == "admin"
    assert ids.who({"authorization": "Bearer nope"}) == "anonymous"
    assert ids.who({}) == "anonymous"
