"""Injected faults, per request and at run time, seen by real clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from tests.sim.sim_helpers import chat

from plano.sim import SimOptions, SimServer

#: (path, body, expected error body keys) per wire shape.
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", chat("hi")),
    "anthropic": (
        "/v1/messages",
        {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "gemini": ("/v1beta/models/g:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
    "responses": ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
}


def error_type(shape: str, body: Any) -> str:
    if shape == "anthropic":
        assert body["type"] == "error"
        return str(body["error"]["type"])
    if shape == "gemini":
        return str(body["error"]["status"])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return str(body["error"]["code"] or body["error"]["type"])


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize(
    ("fault", "status", "kinds"),
    [
        ("429", 429, {"rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"}),
        ("500", 500, {"server_error", "api_error", "INTERNAL"}),
        ("503", 503, {"server_error", "overloaded_error", "UNAVAILABLE"}),
        ("400", 400, {"context_length_exceeded", "invalid_request_error", "INVALID_ARGUMENT"}),
    ],
)
async def test_error_faults_in_each_shape(
    shape: str, fault: str, status: int, kinds: set[str], http: aiohttp.ClientSession
) -> None:
    path, body = SHAPES[shape]
    async with (
        SimServer(SimOptions(fault=fault, retry_after=3)) as sim,  # type: ignore[arg-type]
        http.post(sim.url + path, json=body) as r,
    ):
        assert r.status == status
        assert error_type(shape, await r.json()) in kinds
        assert r.headers.get("Retry-After") == ("3" if fault == "429" else None)
    assert sim.stats.faults == {fault: 1}


async def test_sdks_raise_their_own_errors() -> None:
    async with SimServer(SimOptions(fault="429")) as sim:
        oai = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.RateLimitError) as rate:
            await oai.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
        assert rate.value.response.headers["retry-after"] == "1"
        claude = anthropic.AsyncAnthropic(base_url=sim.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.RateLimitError):
            await claude.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        sim.set_options(fault="400")
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.responses.create(model="m", input="x")
        assert bad.value.code == "context_length_exceeded"


async def test_hang_is_cancelled_when_the_client_leaves(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    tasks_before = len(asyncio.all_tasks())
    with pytest.raises(TimeoutError):
        async with http.post(
            sim.url + "/v1/chat/completions",
            json=chat("hi"),
            headers={"x-sim-fault": "hang"},
            timeout=aiohttp.ClientTimeout(total=0.3),
        ):
            pass
    assert sim.stats.in_flight in (0, 1)
    for _ in range(100):
        if sim.stats.in_flight == 0 and len(asyncio.all_tasks()) <= tasks_before:
            break
        await asyncio.sleep(0.01)
    assert sim.stats.in_flight == 0
    assert len(asyncio.all_tasks()) <= tasks_before


async def test_stop_releases_hanging_requests(http: aiohttp.ClientSession) -> None:
    sim = SimServer(SimOptions(fault="hang"))
    await sim.start()
    pending = asyncio.ensure_future(http.post(sim.url + "/v1/chat/completions", json=chat("hi")))
    for _ in range(200):  # until the request reaches the handler
        if sim.stats.in_flight:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 0.9
    with pytest.raises(aiohttp.ClientError):
        await pending


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, Exception | None]:
    received = b""
    try:
        async for chunk in resp.content.iter_any():
            received += chunk
    except aiohttp.ClientPayloadError as exc:
        return received, exc
    return received, None


async def test_cut_stream_has_no_done(http: aiohttp.ClientSession) -> None:
    async with SimServer(SimOptions(fault="cut")) as sim:
        async with http.post(sim.url + "/v1/chat/completions", json=chat("hi", stream=True)) as r:
            assert r.status == 200
            received, error = await read_until_error(r)
        assert error is not None
        assert received.startswith(b"data: {") and b"[DONE]" not in received
        async with http.post(
            sim.url + "/v1/messages", json=SHAPES["anthropic"][1] | {"stream": True}
        ) as r:
            received, error = await read_until_error(r)
        assert error is not None and b"message_stop" not in received


async def test_cut_non_stream_body_is_truncated(http: aiohttp.ClientSession) -> None:
    async with (
        SimServer(SimOptions(fault="cut")) as sim,
        http.post(sim.url + "/v1/chat/completions", json=chat("hi")) as r,
    ):
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_cut_breaks_the_sdk_stream() -> None:
    async with SimServer(SimOptions(fault="cut")) as sim:
        client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the transport's own error
            async for _ in stream:
                pass


async def test_garbage(http: aiohttp.ClientSession) -> None:
    async with SimServer(SimOptions(fault="garbage")) as sim:
        async with http.post(sim.url + "/v1/chat/completions", json=chat("hi")) as r:
            assert r.status == 200
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(await r.read())
        async with http.post(sim.url + "/v1/chat/completions", json=chat("hi", stream=True)) as r:
            raw = await r.read()
    assert raw.endswith(b"data: [DONE]\n\n")
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    broken = [d for d in datas if d != b"[DONE]" and not _is_json(d)]
    assert len(broken) == 1


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


async def test_latency_slow_and_pacing(http: aiohttp.ClientSession) -> None:
    async with SimServer(SimOptions(slow_ms=150, latency_ms=0)) as sim:
        url = sim.url + "/v1/chat/completions"
        started = time.monotonic()
        async with http.post(url, json=chat("hi"), headers={"x-sim-fault": "slow"}) as r:
            await r.read()
        assert time.monotonic() - started >= 0.15
        started = time.monotonic()
        async with http.post(url, json=chat("hi"), headers={"x-sim-latency-ms": "100"}) as r:
            await r.read()
        assert time.monotonic() - started >= 0.1
        headers = {"x-sim-tps": "100", "x-sim-tokens": "10"}
        started = time.monotonic()
        async with http.post(url, json=chat("hi", stream=True), headers=headers) as r:
            first = await r.content.readany()
            first_at = time.monotonic() - started
            await r.read()
        elapsed = time.monotonic() - started
    assert first.startswith(b"data: ")
    assert elapsed >= 0.09 and elapsed - first_at >= 0.05


async def test_fault_rate_is_reproducible(http: aiohttp.ClientSession) -> None:
    async def statuses() -> list[int]:
        options = SimOptions(fault="500", fault_rate=0.5, seed=42)
        async with SimServer(options) as sim:
            out = []
            for _ in range(20):
                async with http.post(sim.url + "/v1/chat/completions", json=chat("x")) as r:
                    out.append(r.status)
            return out

    first = await statuses()
    assert first == await statuses()
    assert {200, 500} == set(first)


async def test_fault_after_and_runtime_switch(http: aiohttp.ClientSession) -> None:
    async with SimServer(SimOptions(fault="429", fault_after=2)) as sim:
        url = sim.url + "/v1/chat/completions"

        async def status() -> int:
            async with http.post(url, json=chat("x")) as r:
                return r.status

        assert [await status() for _ in range(3)] == [200, 200, 429]
        # fields merge onto the current options; the fault plan starts over
        switch = {"fault": "503", "fault_after": 0}
        async with http.post(sim.url + "/_sim/options", json=switch) as r:
            assert (await r.json())["fault"] == "503"
        assert await status() == 503
        sim.set_options(fault="none")
        assert await status() == 200
        async with http.post(sim.url + "/_sim/options", json={"fault": "boom"}) as r:
            assert r.status == 400
        async with http.post(sim.url + "/_sim/options", json={"latency": 1}) as r:
            assert r.status == 400
        async with http.get(sim.url + "/_sim/options") as r:
            assert (await r.json())["fault"] == "none"


async def test_header_override_errors(sim: SimServer, http: aiohttp.ClientSession) -> None:
    headers = {"x-sim-tokens": "lots"}
    async with http.post(sim.url + "/v1/chat/completions", json=chat("x"), headers=headers) as r:
        assert r.status == 400
        assert "x-sim-tokens" in (await r.json())["error"]["message"]
