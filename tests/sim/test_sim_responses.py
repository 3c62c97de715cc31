"""OpenAI Responses API over real HTTP, checked raw and with the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from tests.sim.sim_helpers import TOOLS, sse

from plano.sim import SimServer

FUNCTION_TOOLS: list[Any] = [{"type": "function", **t["function"]} for t in TOOLS]


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=sim.url + "/v1", api_key="sk-test", max_retries=0
    ) as sdk:
        yield sdk


async def test_non_stream_shape(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "gpt-4o", "input": "hello", "instructions": "be brief", "temperature": 0.2}
    async with http.post(sim.url + "/v1/responses", json=body) as r:
        answer = await r.json()
    assert answer["object"] == "response"
    assert answer["id"].startswith("resp_")
    assert answer["status"] == "completed"
    assert (answer["instructions"], answer["temperature"]) == ("be brief", 0.2)
    item = answer["output"][0]
    assert (item["type"], item["role"], item["status"]) == ("message", "assistant", "completed")
    assert item["content"][0]["type"] == "output_text"
    usage = answer["usage"]
    assert usage["output_tokens"] == 16
    assert usage["total_tokens"] == usage["input_tokens"] + 16
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}


async def test_stream_event_sequence(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "gpt-4o", "input": "hi", "stream": True, "max_output_tokens": 2}
    async with http.post(sim.url + "/v1/responses", json=body) as r:
        events = sse(await r.read())
    names = [n for n, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    data = [orjson.loads(d) for _, d in events]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert all(d["type"] == n for d, n in zip(data, names, strict=True))
    final = data[-1]["response"]
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["usage"]["output_tokens"] == 2


async def test_sdk_non_stream_text(client: openai.AsyncOpenAI) -> None:
    r = await client.responses.create(model="gpt-4o-mini", input="hello world")
    assert r.output_text.startswith("Simulated reply from openai gpt-4o-mini: hello world")
    assert r.usage is not None and r.usage.output_tokens == 16


async def test_sdk_non_stream_function_call(client: openai.AsyncOpenAI) -> None:
    r = await client.responses.create(model="gpt-4o", input="weather?", tools=FUNCTION_TOOLS)
    call = r.output[0]
    assert call.type == "function_call"
    assert (call.name, orjson.loads(call.arguments)) == ("get_weather", {"location": "Paris"})
    assert call.call_id.startswith("call_")


async def test_sdk_stream_events(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4o", input="hi", stream=True)
    types = [event.type async for event in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 16


async def test_sdk_stream_helper_with_tools(client: openai.AsyncOpenAI) -> None:
    async with client.responses.stream(
        model="gpt-4o",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "both"}]}],
        tools=FUNCTION_TOOLS,
    ) as stream:
        deltas = [
            e.delta async for e in stream if e.type == "response.function_call_arguments.delta"
        ]
        final = await stream.get_final_response()
    assert len(deltas) > 2
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert final.usage is not None and final.usage.total_tokens > 0


async def test_function_call_output_turn(client: openai.AsyncOpenAI) -> None:
    r = await client.responses.create(
        model="gpt-4o",
        tools=FUNCTION_TOOLS,
        input=[
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "c1", "output": "foggy"},
        ],
    )
    assert "the tool returned foggy" in r.output_text
