"""The Topics contract, run against every backend: memory, SQLite, Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from tests.store.hot_backends import BACKENDS, MARKER, Backends, backends_for, started, take

from plano.store.protocols import Message, Topics


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncGenerator[Backends, None]:
    async for made in backends_for(request.param, tmp_path):
        yield made


async def real(topics: Topics, topic: str) -> list[Message]:
    return [m async for m in topics.replay(topic) if m.payload != MARKER]


async def test_publish_then_subscribe_in_order_with_headers(stores: Backends) -> None:
    topics = stores.topics()
    await topics.publish("jobs", b"before the group")  # a new group starts at the end
    sub = await started(topics, "jobs", "workers", "w1")
    ids = [await topics.publish("jobs", f"m{i}".encode(), {"n": str(i)}) for i in range(20)]
    got = [await take(topics, sub, "workers") for _ in range(20)]
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(20)]
    assert [m.id for m in got] == ids
    assert all(m.topic == "jobs" and m.deliveries == 1 for m in got)
    assert got[3].headers == {"n": "3"}
    for m in got:
        await topics.ack("jobs", "workers", [m.id])
    await sub.aclose()


async def test_two_consumers_of_one_group_share_the_messages(stores: Backends) -> None:
    topics = stores.topics()
    one = await started(topics, "t", "g", "c1")
    two = topics.subscribe("t", "g", "c2", block=0.05)
    await topics.publish("t", b"a")
    await topics.publish("t", b"b")
    first = await take(topics, one, "g")  # held, not acknowledged yet
    second = await take(topics, two, "g")
    assert {first.payload, second.payload} == {b"a", b"b"}
    await topics.ack("t", "g", [first.id])
    await topics.ack("t", "g", [second.id])
    await topics.publish("t", b"c")
    waiting = [asyncio.ensure_future(take(topics, s, "g", 3.0)) for s in (one, two)]
    done, pending = await asyncio.wait(waiting, timeout=3.0, return_when=asyncio.FIRST_COMPLETED)
    assert [t.result().payload for t in done] == [b"c"]  # to one consumer only
    await asyncio.sleep(0.3)
    assert all(not t.done() for t in pending)
    for t in pending:
        t.cancel()


async def test_two_groups_each_see_every_message(stores: Backends) -> None:
    topics = stores.topics()
    audit = await started(topics, "events", "audit", "a1")
    billing = await started(topics, "events", "billing", "b1")
    for i in range(3):
        await topics.publish("events", str(i).encode())
    for sub, group in ((audit, "audit"), (billing, "billing")):
        got = [await take(topics, sub, group) for _ in range(3)]
        assert [m.payload for m in got] == [b"0", b"1", b"2"]
        for m in got:
            await topics.ack("events", group, [m.id])
        await sub.aclose()


async def test_an_unacknowledged_message_comes_back(stores: Backends) -> None:
    topics = stores.topics(visibility=0.3)
    sub = await started(topics, "t", "g", "c1")
    await topics.publish("t", b"work")
    first = await take(topics, sub, "g")
    assert first.deliveries == 1  # ...and the consumer dies without acknowledging
    other = topics.subscribe("t", "g", "c2", block=0.05)
    again = await take(topics, other, "g", within=5.0)
    assert (again.id, again.payload, again.deliveries) == (first.id, b"work", 2)
    await topics.ack("t", "g", [again.id])
    with pytest.raises(TimeoutError):
        await take(topics, other, "g", within=0.8)


async def test_replay_from_an_id_without_moving_any_group(stores: Backends) -> None:
    topics = stores.topics()
    sub = await started(topics, "log", "g", "c")
    ids = [await topics.publish("log", f"e{i}".encode()) for i in range(6)]
    history = await real(topics, "log")
    assert [m.payload for m in history] == [f"e{i}".encode() for i in range(6)]
    after = [m async for m in topics.replay("log", after=ids[2])]
    assert [m.id for m in after] == ids[3:]
    assert [m.id async for m in topics.replay("log", after=ids[0], limit=2)] == ids[1:3]
    assert [m async for m in topics.replay("log", after=ids[-1])] == []
    assert [m async for m in topics.replay("never-published")] == []
    got = await take(topics, sub, "g")  # replay moved nothing: the group reads from e0
    assert got.payload == b"e0"
    await sub.aclose()


async def test_bad_replay_id_is_refused(stores: Backends) -> None:
    topics = stores.topics()
    with pytest.raises(ValueError):
        async for _ in topics.replay("t", after="not-an-id"):
            pass


async def test_closing_the_store_ends_its_subscriptions(stores: Backends) -> None:
    topics = stores.topics()
    sub = await started(topics, "t", "g", "c")
    waiting = asyncio.ensure_future(take(topics, sub, "g"))
    await asyncio.sleep(0.1)  # let it block in its read
    await topics.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 3.0)


async def test_last_id_is_the_newest_message_without_reading_the_topic(stores: Backends) -> None:
    topics = stores.topics()
    assert await topics.last_id("empty") is None
    ids = [await topics.publish("t", f"e{i}".encode()) for i in range(5)]
    assert await topics.last_id("t") == ids[-1]
    await topics.publish("other", b"x")  # another topic's messages are not this one's
    assert await topics.last_id("t") == ids[-1]
    assert [m.id async for m in topics.replay("t", after=await topics.last_id("t"))] == []


async def test_one_ack_names_many_ids(stores: Backends) -> None:
    topics = stores.topics(visibility=0.3)
    sub = await started(topics, "t", "g", "c1")
    for i in range(4):
        await topics.publish("t", str(i).encode())
    got = [await take(topics, sub, "g") for _ in range(4)]
    await topics.ack("t", "g", [m.id for m in got[:3]])  # the last one stays pending
    await topics.ack("t", "g", [])
    await sub.aclose()
    other = topics.subscribe("t", "g", "c2", block=0.05)
    again = await take(topics, other, "g", within=5.0)
    assert (again.id, again.deliveries) == (got[3].id, 2)  # only the unacknowledged one
    await topics.ack("t", "g", [again.id])
    with pytest.raises(TimeoutError):
        await take(topics, other, "g", within=0.8)
    with pytest.raises(ValueError):
        await topics.ack("t", "g", [again.id, "not-an-id"])


async def test_members_lists_groups_and_consumers_and_release_forgets_idle_ones(
    stores: Backends,
) -> None:
    topics = stores.topics()
    assert await topics.members("t") == {}
    one = await started(topics, "t", "g", "c1")
    two = await started(topics, "t", "h", "c2")
    members = await topics.members("t")
    assert members == {"g": frozenset({"c1"}), "h": frozenset({"c2"})}
    await topics.publish("t", b"held")
    held = await take(topics, one, "g")  # c1 now holds a pending message
    await one.aclose()
    await two.aclose()
    assert await topics.release("t", "g", "c1") is False  # its message must stay claimable
    assert (await topics.members("t"))["g"] == {"c1"}
    assert await topics.release("t", "h", "c2") is True
    assert (await topics.members("t"))["h"] == frozenset()
    await topics.ack("t", "g", [held.id])
    assert await topics.release("t", "g", "c1") is True
    assert await topics.members("t") == {"g": frozenset(), "h": frozenset()}
