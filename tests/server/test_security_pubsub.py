"""The topics endpoints under hostile input, served by the edge runner as ``plano up`` serves
them: credentials that are not UTF-8, bodies sent in pieces, offsets and message ids that are
not ids (or too big for the store), oversized acknowledgements. Each gets an answer in the
API's JSON error shape, never a 500, and a message is stored whole or refused."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.config.agent_run import PubSubSettings, TopicRule
from plano.pubsub.identity import Identities
from plano.server.edge import EdgeRunner, EdgeSettings
from plano.server.pubsub_api import MAX_ACK_IDS, MAX_PAGE_BYTES, TopicsAPI
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import Topics
from plano.store.sqlite_topics import SQLiteTopics

ADMIN = {"x-plano-key": "adm"}


@pytest.fixture(params=["memory", "sqlite"])
async def topics(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Topics]:
    store: Any = MemoryTopics() if request.param == "memory" else SQLiteTopics(tmp_path / "t.db")
    yield store
    await store.close()


async def _serve(api: TopicsAPI) -> tuple[EdgeRunner, str]:
    app = web.Application()
    app.add_routes(api.routes())
    runner = EdgeRunner(app, EdgeSettings())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def served(topics: Topics) -> AsyncIterator[str]:
    settings = PubSubSettings(topics=[TopicRule(name="t", publish=["*"], subscribe=["*"])])
    ids = Identities(lambda t: "booker" if t == "pat-booker" else None, {}, "adm")
    api = TopicsAPI(topics, settings, ids, auth_required=False, draining=lambda: False)
    runner, url = await _serve(api)
    yield url
    await runner.cleanup()


@pytest.fixture
def port_of() -> Iterator[Any]:
    yield lambda url: int(url.rsplit(":", 1)[1])


def _raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """One exchange; the answer ends at its content-length (the server may linger)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            top, sep, rest = out.partition(b"\r\n\r\n")
            length = [ln for ln in top.lower().split(b"\r\n") if ln.startswith(b"content-length")]
            if sep and length and len(rest) >= int(length[0].split(b":")[1]):
                break
    return out


@pytest.mark.parametrize("header", [b"x-plano-key", b"authorization: Bearer"])
async def test_a_credential_that_is_not_utf8_is_anonymous_not_a_500(
    served: str, port_of: Any, header: bytes
) -> None:
    name, _, scheme = header.partition(b":")
    value = (scheme.strip() + b" " if scheme else b"") + b"\xff\xfe-key"
    head = (
        b"POST /v1/topics/t HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1\r\n"
        + name
        + b": "
        + value
        + b"\r\nconnection: close\r\n\r\n"
    )
    raw = await asyncio.to_thread(_raw, port_of(served), head, b"x")
    status = int(raw.split(b" ", 2)[1])
    assert status == 202, raw  # no rule refuses "*": an anonymous publisher, not a crash


async def test_auth_required_refuses_a_non_utf8_credential_with_401(port_of: Any) -> None:
    api = TopicsAPI(MemoryTopics(), None, Identities(), auth_required=True, draining=lambda: False)
    runner, url = await _serve(api)
    try:
        head = (
            b"POST /v1/topics/t HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1\r\n"
            b"authorization: Bearer \xc3\x28\r\nconnection: close\r\n\r\n"
        )
        raw = await asyncio.to_thread(_raw, port_of(url), head, b"x")
        assert raw.startswith(b"HTTP/1.1 401"), raw
        assert b'"missing_key"' in raw
    finally:
        await runner.cleanup()


async def test_a_message_sent_in_pieces_is_stored_whole(served: str) -> None:
    """A chunked body arrives over several reads: the first read is not the message."""
    pieces = [b'{"part": "', b"a" * 70_000, b'", "end": true}']

    async def body() -> AsyncIterator[bytes]:
        for p in pieces:
            yield p
            await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as s:
        r = await s.post(
            served + "/v1/topics/t",
            data=body(),
            headers={**ADMIN, "content-type": "application/json"},
        )
        assert r.status == 202, await r.text()
        got = await (await s.get(served + "/v1/topics/t/messages?after=0", headers=ADMIN)).json()
    assert got["messages"][0]["data"] == {"part": "a" * 70_000, "end": True}


async def test_a_chunked_message_over_the_limit_is_refused(topics: Topics) -> None:
    settings = PubSubSettings(max_message=1000)
    api = TopicsAPI(topics, settings, Identities(), auth_required=False, draining=lambda: False)
    runner, url = await _serve(api)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 400
            await asyncio.sleep(0.02)

    try:
        async with aiohttp.ClientSession() as s:
            r = await s.post(url + "/v1/topics/t", data=body())
            assert r.status == 413
            assert (await r.json())["error"]["type"]
            stored = await (await s.get(url + "/v1/topics/t/messages?after=0")).json()
        assert stored["messages"] == []  # nothing of it, not its first 1000 bytes
    finally:
        await runner.cleanup()


BAD_OFFSETS = ["not-an-id", "1-0-0", "%C2%B2"]
#: A well-formed id past SQLite's integers (a memory store just has nothing after it).
HUGE = "99999999999999999999999999"


@pytest.mark.parametrize("offset", BAD_OFFSETS)
async def test_a_bad_offset_is_a_400_before_the_stream_starts(served: str, offset: str) -> None:
    async with aiohttp.ClientSession() as s:
        for path in (f"/v1/topics/t?after={offset}", f"/v1/topics/t/messages?after={offset}"):
            async with asyncio.timeout(5):
                r = await s.get(served + path, headers=ADMIN)
                assert r.status == 400, (path, r.status, await r.text())
                assert r.content_type == "application/json"
                assert (await r.json())["error"]["type"] == "invalid_request_error"


async def test_a_bad_last_event_id_is_a_400(served: str) -> None:
    async with aiohttp.ClientSession() as s, asyncio.timeout(5):
        r = await s.get(served + "/v1/topics/t", headers={**ADMIN, "last-event-id": "nope"})
        assert r.status == 400


@pytest.mark.parametrize("ids", [["x"], [None], [{"a": 1}], ["1", "-1"]])
async def test_acknowledging_ids_that_are_not_ids_is_a_400(served: str, ids: list[Any]) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.post(served + "/v1/topics/t/ack", json={"group": "g", "ids": ids})
        assert r.status == 400, await r.text()


async def test_an_id_past_the_stores_integers_is_not_a_500(served: str) -> None:
    async with aiohttp.ClientSession() as s:
        acked = await s.post(served + "/v1/topics/t/ack", json={"group": "g", "ids": [HUGE]})
        listed = await s.get(served + f"/v1/topics/t/messages?after={HUGE}", headers=ADMIN)
        for r in (acked, listed):
            assert r.status in (200, 400), await r.text()
            assert r.content_type == "application/json"


async def test_an_acknowledgement_is_bounded(served: str) -> None:
    ids = [str(n) for n in range(MAX_ACK_IDS + 1)]
    async with aiohttp.ClientSession() as s:
        r = await s.post(served + "/v1/topics/t/ack", data=orjson.dumps({"group": "g", "ids": ids}))
        assert r.status == 400
        assert str(MAX_ACK_IDS) in (await r.json())["error"]["message"]
        ok = await s.post(served + "/v1/topics/t/ack", json={"group": "g", "ids": ids[:3]})
        assert (await ok.json()) == {"acked": 3}


@pytest.mark.parametrize("limit", ["x", "99999999999999999999999999", "-5", "1e3"])
async def test_messages_limit_is_validated_or_clamped(served: str, limit: str) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.get(served + f"/v1/topics/t/messages?limit={limit}", headers=ADMIN)
        assert r.status in (200, 400), await r.text()
        assert r.content_type == "application/json"


async def test_a_body_that_trickles_is_cut_off(port_of: Any) -> None:
    api = TopicsAPI(
        MemoryTopics(), None, Identities(), auth_required=False, draining=lambda: False,
        body_timeout=0.3,
    )  # fmt: skip
    runner, url = await _serve(api)
    try:
        for path in (b"/v1/topics/t", b"/v1/topics/t/ack"):
            head = (
                b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n"
                b"connection: close\r\n\r\n"
            )
            async with asyncio.timeout(5):
                raw = await asyncio.to_thread(_raw, port_of(url), head, b"{")
            assert raw.startswith(b"HTTP/1.1 408"), raw
            assert b'"body_timeout"' in raw
    finally:
        await runner.cleanup()


@pytest.fixture
async def with_push() -> AsyncIterator[tuple[str, MemoryTopics]]:
    """``notifier`` has a push subscription on ``bookings`` (its group ``push:notifier``) and
    one on ``audit`` with its own group name; anyone may subscribe to both topics."""
    store = MemoryTopics(visibility=0.3)
    rules = [TopicRule(name=t, publish=["*"], subscribe=["*"]) for t in ("bookings", "audit")]
    ids = Identities(lambda t: "notifier" if t == "pat-notifier" else None, {}, "adm")
    api = TopicsAPI(
        store, PubSubSettings(topics=rules), ids, auth_required=False, draining=lambda: False,
        push_groups={("bookings", "push:notifier"): "notifier", ("audit", "ops"): "notifier"},
    )  # fmt: skip
    runner, url = await _serve(api)
    yield url, store
    await runner.cleanup()
    await store.close()


@pytest.mark.parametrize(
    ("topic", "group"),
    [("bookings", "push:notifier"), ("audit", "ops"), ("bookings", "push:someone-else")],
)
async def test_a_push_delivery_group_cannot_be_taken_over(
    with_push: tuple[str, MemoryTopics], topic: str, group: str
) -> None:
    """Subscribing in an agent's push group with auto_ack would consume (and acknowledge) the
    messages meant for the agent; acknowledging in it would stop their redelivery."""
    url, _store = with_push
    async with aiohttp.ClientSession() as s, asyncio.timeout(5):
        sub = await s.get(url + f"/v1/topics/{topic}?group={group}&auto_ack=1")
        assert sub.status == 403, await sub.text()
        assert (await sub.json())["error"]["code"] == "group_reserved"
        ack = await s.post(url + f"/v1/topics/{topic}/ack", json={"group": group, "ids": ["1"]})
        assert ack.status == 403


async def test_the_agent_itself_and_the_admin_may_use_its_group(
    with_push: tuple[str, MemoryTopics],
) -> None:
    url, _store = with_push
    async with aiohttp.ClientSession() as s, asyncio.timeout(5):
        for who in ({"authorization": "Bearer pat-notifier"}, ADMIN):
            r = await s.post(
                url + "/v1/topics/bookings/ack",
                json={"group": "push:notifier", "ids": []},
                headers=who,
            )
            assert r.status == 200, await r.text()
        other = await s.get(url + "/v1/topics/bookings?group=mine&auto_ack=1")
        assert other.status == 200  # any other group is the subscriber's own
        other.close()


@pytest.mark.parametrize(
    "query", ["group=" + "g" * 201, "group=a%20b", "group=g&consumer=" + "c" * 300, "group=%0a"]
)
async def test_group_and_consumer_names_are_bounded(served: str, query: str) -> None:
    async with aiohttp.ClientSession() as s, asyncio.timeout(5):
        r = await s.get(served + f"/v1/topics/t?{query}", headers=ADMIN)
        assert r.status == 400, await r.text()
        assert (await r.json())["error"]["code"] == "invalid_group"
        ack = await s.post(served + "/v1/topics/t/ack", json={"group": "g" * 201, "ids": []})
        assert ack.status == 400


async def test_a_messages_page_is_bounded_in_bytes_and_pages_on(topics: Topics) -> None:
    """1,000 messages of ``max_message`` each would be one answer of a gigabyte: a page ends
    once MAX_PAGE_BYTES of payload are in, and the client asks again after its last id."""
    settings = PubSubSettings(max_message=2 * 1024 * 1024)
    api = TopicsAPI(topics, settings, Identities(), auth_required=False, draining=lambda: False)
    big = 1536 * 1024
    for n in range(5):
        await topics.publish("big", bytes([65 + n]) * big)
    for n in range(120):
        await topics.publish("small", b"%d" % n)
    runner, url = await _serve(api)
    try:
        async with aiohttp.ClientSession() as s:
            seen: list[str] = []
            after = "0"
            while True:
                r = await s.get(url + f"/v1/topics/big/messages?after={after}&limit=1000")
                page = (await r.json())["messages"]
                if not page:
                    break
                assert sum(len(m["data"]) for m in page) <= MAX_PAGE_BYTES + big
                seen += [m["data"][0] for m in page]
                after = page[-1]["id"]
            assert seen == list("ABCDE")
            small = await (await s.get(url + "/v1/topics/small/messages?after=0&limit=1000")).json()
            assert [m["data"] for m in small["messages"]] == [str(n) for n in range(120)]
            few = await (await s.get(url + "/v1/topics/small/messages?after=0&limit=7")).json()
            assert len(few["messages"]) == 7
    finally:
        await runner.cleanup()
