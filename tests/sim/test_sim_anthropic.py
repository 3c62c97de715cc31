"""Anthropic Messages over real HTTP, checked raw and with the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from tests.sim.sim_helpers import TOOLS, sse

from plano.sim import SimOptions, SimServer

ANTHROPIC_TOOLS = [
    {"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in TOOLS
]


def message(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def test_headers_are_required(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as bare:
        url = sim.url + "/v1/messages"
        async with bare.post(url, json=message("hi"), headers={"anthropic-version": "x"}) as r:
            assert r.status == 401
            assert await r.json() == {
                "type": "error",
                "error": {
                    "type": "authentication_error",
                    "message": "x-api-key header is required",
                },
            }
        async with bare.post(url, json=message("hi"), headers={"x-api-key": "k"}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        headers = {"Authorization": "Bearer k", "anthropic-version": "2023-06-01"}
        async with bare.post(url, json={"model": "m", "messages": []}, headers=headers) as r:
            assert r.status == 400
            assert "max_tokens" in (await r.json())["error"]["message"]


async def test_non_stream_shape_with_cache_counts(http: aiohttp.ClientSession) -> None:
    options = SimOptions(cached_tokens=3, cache_write_tokens=2, output_tokens=5)
    async with (
        SimServer(options) as sim,
        http.post(sim.url + "/v1/messages", json=message("hello " * 20)) as r,
    ):
        body = await r.json()
    assert body["id"].startswith("msg_")
    assert (body["type"], body["role"], body["stop_reason"], body["stop_sequence"]) == (
        "message",
        "assistant",
        "end_turn",
        None,
    )
    assert body["content"] == [
        {"type": "text", "text": "Simulated reply from anthropic claude-test:"}
    ]
    usage = body["usage"]
    assert usage["cache_read_input_tokens"] == 3
    assert usage["cache_creation_input_tokens"] == 2
    assert usage["output_tokens"] == 5
    # input_tokens excludes the cached part, as Anthropic reports it
    assert usage["input_tokens"] == (len("hello " * 20) // 4 + 4) - 5


async def test_stream_event_sequence(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/messages", json=message("hi", stream=True)) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        events = sse(await r.read())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3:-3] == ["content_block_delta"] * 16
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = [orjson.loads(d) for _, d in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    assert data[0]["message"]["content"] == []
    assert data[3]["delta"] == {"type": "text_delta", "text": "Simulated"}
    assert data[-2]["delta"]["stop_reason"] == "end_turn"
    assert data[-2]["usage"] == {"output_tokens": 16}


async def test_stream_tool_use_and_thinking(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = message(
        "weather?",
        stream=True,
        tools=ANTHROPIC_TOOLS,
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    async with http.post(sim.url + "/v1/messages", json=body) as r:
        events = sse(await r.read())
    data = [orjson.loads(d) for _, d in events]
    starts = [d["content_block"] for d in data if d["type"] == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "tool_use"]
    assert starts[1]["name"] == "get_weather" and starts[1]["input"] == {}
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    kinds = {d["type"] for d in deltas}
    assert kinds == {"thinking_delta", "signature_delta", "input_json_delta"}
    partial = "".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta")
    assert orjson.loads(partial) == {"location": "Paris"}
    assert data[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


async def test_sdk_non_stream_text_and_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    m = await client.messages.create(
        model="claude-haiku", max_tokens=4, messages=[{"role": "user", "content": "hello"}]
    )
    assert m.stop_reason == "max_tokens"
    assert m.content[0].type == "text"
    assert m.content[0].text == "Simulated reply from anthropic"
    assert m.usage.output_tokens == 4


async def test_sdk_non_stream_tool_use(client: anthropic.AsyncAnthropic) -> None:
    m = await client.messages.create(
        model="claude-test",
        max_tokens=512,
        messages=[{"role": "user", "content": "hi"}],
        tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "tool", "name": "get_time"},
    )
    assert m.stop_reason == "tool_use"
    block = m.content[0]
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_time", {"tz": "UTC"})
    assert block.id.startswith("toolu_")


async def test_sdk_stream_accumulates(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-test",
        max_tokens=2048,
        messages=[{"role": "user", "content": "both weather and time"}],
        tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use", "tool_use"]
    thinking = final.content[0]
    assert thinking.type == "thinking" and thinking.thinking.startswith("Thinking about:")
    assert thinking.signature
    assert [b.input for b in final.content[1:] if b.type == "tool_use"] == [
        {"location": "Paris"},
        {"tz": "UTC"},
    ]
    assert final.stop_reason == "tool_use"


async def test_sdk_stream_text(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "say it"}]
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text.startswith("Simulated reply from anthropic claude-x: say it")


async def test_tool_result_turn(client: anthropic.AsyncAnthropic) -> None:
    m = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rainy"}],
            },
        ],
    )
    assert m.stop_reason == "end_turn"
    assert m.content[0].type == "text" and "the tool returned rainy" in m.content[0].text


async def test_sdk_models_list(client: anthropic.AsyncAnthropic) -> None:
    page = await client.models.list()
    assert "gpt-4o" in [m.id for m in page.data]
