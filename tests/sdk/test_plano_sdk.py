"""plano.sdk: an agent service answering chat completions (plain and streamed), the turn's ids
carried into the LLM calls it makes (openai SDK through the httpx hook), pushed events, and
the publish helper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from plano.sdk import AgentService, Event, Turn, llm, propagation_headers, publish
from plano.sdk.context import child_traceparent, current_turn, turn_from_headers

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _upstream(seen: list[dict[str, str]]) -> TestServer:
    """A model listener stand-in that records the headers it got."""

    async def chat(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        body = await request.json()
        text = f"echo: {body['messages'][-1]['content']}"
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    async def topic(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        body = (await request.read()).decode()
        seen.append({**request.headers, "body": body, "peer": str(peer)})
        return web.json_response({"id": "42", "topic": request.match_info["t"]}, status=202)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/topics/{t}", topic)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_a_turns_ids_reach_every_llm_call_it_makes() -> None:
    seen: list[dict[str, str]] = []
    upstream = await _upstream(seen)
    base = str(upstream.make_url("")).rstrip("/")

    async def answer(messages: list[dict[str, Any]], turn: Turn) -> str:
        reply = await llm(base_url=base).chat.completions.create(model="m", messages=messages)
        return f"{turn.session_id}: {reply.choices[0].message.content}"

    client = TestClient(TestServer(AgentService(answer, name="a").app()))
    await client.start_server()
    try:
        headers = {"traceparent": PARENT, "x-request-id": "req-1", "x-plano-session-id": "s-9"}
        body = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}
        resp = await client.post("/v1/chat/completions", json=body, headers=headers)
        data = await resp.json()
    finally:
        await client.close()
        await upstream.close()
    assert resp.status == 200
    assert data["choices"][0]["message"]["content"] == "s-9: echo: hi"
    assert data["model"] == "a"
    sent = {k.lower(): v for k, v in seen[0].items()}
    trace = sent["traceparent"].split("-")
    assert trace[1] == PARENT.split("-")[1] and trace[2] != PARENT.split("-")[2]
    assert sent["x-request-id"] == "req-1" and sent["x-plano-session-id"] == "s-9"


async def test_streamed_answers_and_agent_errors() -> None:
    async def answer(messages: list[dict[str, Any]], turn: Turn) -> AsyncIterator[str]:
        if messages[-1]["content"] == "fail":
            raise RuntimeError("broken tool")
        for piece in ("a", "b", "c"):
            yield piece

    client = TestClient(TestServer(AgentService(answer, name="s").app()))
    await client.start_server()
    try:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": "x"}], "stream": True}
        resp = await client.post("/v1/chat/completions", json=body)
        raw = await resp.text()
        body["stream"] = False
        whole = await (await client.post("/v1/chat/completions", json=body)).json()
        body["messages"][0]["content"] = "fail"
        failed = await client.post("/v1/chat/completions", json=body)
        failed_body = await failed.json()
        bad = await client.post("/v1/chat/completions", data=b"nope")
        await bad.read()
        health = await (await client.get("/healthz")).json()
    finally:
        await client.close()
    chunks = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "abc" and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert raw.rstrip().endswith("data: [DONE]")
    assert whole["choices"][0]["message"]["content"] == "abc"
    assert failed.status == 500 and "broken tool" in failed_body["error"]["message"]
    assert bad.status == 400
    assert health["status"] == "ok"


async def test_pushed_events_reach_their_handler() -> None:
    got: list[Event] = []
    service = AgentService(lambda m, t: "", name="n")

    @service.on("bookings")
    async def on_booking(event: Event) -> None:
        if event.data == {"boom": True}:
            raise ValueError("cannot")
        got.append(event)

    client = TestClient(TestServer(service.app()))
    await client.start_server()
    try:
        env = {"id": "1", "topic": "bookings", "data": {"ok": 1}, "deliveries": 2}
        ok = await client.post("/events", json=env)
        failing = await client.post("/events", json={**env, "data": {"boom": True}})
        unknown = await client.post("/events", json={**env, "topic": "other"})
    finally:
        await client.close()
    assert ok.status == 200 and got[0].data == {"ok": 1} and got[0].deliveries == 2
    assert failing.status == 500  # Plano retries it
    assert unknown.status == 404


async def test_publish_sends_the_agent_token_and_the_turns_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, str]] = []
    upstream = await _upstream(seen)
    monkeypatch.setenv("PLANO_URL", str(upstream.make_url("")).rstrip("/"))
    monkeypatch.setenv("PLANO_AGENT_TOKEN", "pat-abc")
    token = current_turn.set(turn_from_headers({"X-Request-Id": "r1"}))
    try:
        assert await publish("bookings", {"status": "booking confirmed"}) == "42"
    finally:
        current_turn.reset(token)
        await upstream.close()
    sent = {k.lower(): v for k, v in seen[0].items()}
    assert sent["authorization"] == "Bearer pat-abc" and sent["x-request-id"] == "r1"
    assert json.loads(sent["body"]) == {"status": "booking confirmed"}


def test_trace_context_outside_and_inside_a_turn() -> None:
    assert propagation_headers() == {}
    fresh = child_traceparent("garbage").split("-")
    assert len(fresh[1]) == 32 and len(fresh[2]) == 16
    turn = Turn(request_id="r", traceparent=PARENT)
    headers = propagation_headers(turn)
    assert headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert headers["traceparent"].endswith("-01") and "x-plano-session-id" not in headers


async def test_subscribe_resumes_after_a_dropped_connection() -> None:
    from plano.pubsub.identity import Identities
    from plano.sdk import subscribe
    from plano.server.pubsub_api import TopicsAPI
    from plano.store.memory_topics import MemoryTopics

    topics = MemoryTopics()
    draining = {"now": False}

    def app() -> web.Application:
        api = TopicsAPI(
            topics, None, Identities(), auth_required=False, draining=lambda: draining["now"]
        )
        application = web.Application()
        application.add_routes(api.routes())
        return application

    server = TestServer(app())
    await server.start_server()
    port = server.port
    base = str(server.make_url("")).rstrip("/")
    json_headers = {"content-type": "application/json"}
    for n in range(2):
        await topics.publish("t", json.dumps({"n": n}).encode(), json_headers)
    got: list[Any] = []
    stream = subscribe("t", after="0", base_url=base, reconnect=0.05)
    try:
        async with asyncio.timeout(15):
            async for event in stream:
                got.append(event.data)
                if len(got) == 2:  # Plano restarts: the stream ends, the port comes back
                    draining["now"] = True
                    await server.close()
                    draining["now"] = False
                    await topics.publish("t", b'{"n": 2}', json_headers)
                    server = TestServer(app(), port=port)
                    await server.start_server()
                if len(got) == 3:
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await server.close()
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_subscribe_reads_split_crlf_events_and_resubscribes_after_an_error_event() -> None:
    from plano.sdk import subscribe

    def env(n: int) -> bytes:
        return json.dumps({"id": str(n), "topic": "t", "data": {"n": n}}).encode()

    resumed: list[str | None] = []
    at: list[float] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        resumed.append(request.headers.get("last-event-id"))
        at.append(asyncio.get_running_loop().time())
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if len(resumed) == 1:
            event = b": ping\r\n\r\nid: 1\r\nevent: message\r\ndata: " + env(1) + b"\r\n\r\n"
            for cut in (5, 17, len(event) - 1):  # pieces that split lines and CRLFs
                await resp.write(event[:cut])
                event = event[cut:]
                await asyncio.sleep(0.01)
            await resp.write(event + b'event: error\ndata: {"error": "store unavailable"}\n\n')
            await asyncio.sleep(1.5)  # the error event, not the end of the stream, ends it
        else:
            await resp.write(b"id: 2\nevent: message\ndata: " + env(2) + b"\n\n")
            await asyncio.sleep(1)
        return resp

    app = web.Application()
    app.router.add_get("/v1/topics/t", stream)
    server = TestServer(app)
    await server.start_server()
    got: list[Any] = []
    events = subscribe("t", after="0", base_url=str(server.make_url("")).rstrip("/"), reconnect=0)
    try:
        async with asyncio.timeout(10):
            async for event in events:
                got.append(event.data)
                if len(got) == 2:
                    break
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        await server.close()
    assert got == [{"n": 1}, {"n": 2}]
    assert resumed == ["0", "1"]
    assert at[1] - at[0] < 1.0


async def test_publish_with_the_agents_session_reuses_its_connection() -> None:
    import aiohttp

    seen: list[dict[str, str]] = []
    upstream = await _upstream(seen)
    base = str(upstream.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(3):
                assert await publish("t", {"n": n}, base_url=base, session=session) == "42"
            assert not session.closed  # the caller's, left open
    finally:
        await upstream.close()
    assert len(seen) == 3 and len({s["peer"] for s in seen}) == 1
