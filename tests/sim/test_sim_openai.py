"""OpenAI chat completions (and Azure) over real HTTP, checked raw and with the official SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from tests.sim.sim_helpers import TOOLS, chat, sse, sse_json

from plano.sim import SimOptions, SimServer


async def test_non_stream_shape(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/chat/completions", json=chat("hello there")) as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        body = await r.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].startswith("Simulated reply from openai gpt-4o: hello")
    usage = body["usage"]
    assert usage["completion_tokens"] == 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + 16
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


async def test_identical_requests_get_distinct_ids(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    ids = set()
    for _ in range(3):
        async with http.post(sim.url + "/v1/chat/completions", json=chat("same")) as r:
            ids.add((await r.json())["id"])
    assert len(ids) == 3


async def test_stream_without_usage(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = chat("hi", stream=True, max_tokens=4)
    async with http.post(sim.url + "/chat/completions", json=body) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        raw = await r.read()
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = sse_json(raw)
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["Simulated", " reply", " from", " openai"]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }


async def test_stream_with_usage_and_tool_calls(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    body = chat("weather in both", stream=True, tools=TOOLS)
    body["stream_options"] = {"include_usage": True}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
        chunks = sse_json(await r.read())
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    deltas = [d for c in chunks[:-2] for d in c["choices"][0]["delta"].get("tool_calls", [])]
    firsts = [d for d in deltas if "id" in d]
    assert [(d["index"], d["function"]["name"], d["function"]["arguments"]) for d in firsts] == [
        (0, "get_weather", ""),
        (1, "get_time", ""),
    ]
    args = {0: "", 1: ""}
    for d in deltas:
        args[d["index"]] += d["function"]["arguments"]
    assert json.loads(args[0]) == {"location": "Paris"}
    assert json.loads(args[1]) == {"tz": "UTC"}
    assert sum(1 for d in deltas if d["index"] == 0) > 2  # arguments arrive in several chunks


async def test_tool_result_turn(sim: SimServer, http: aiohttp.ClientSession) -> None:
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    body = {"model": "gpt-4o", "messages": messages, "tools": TOOLS}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
        message = (await r.json())["choices"][0]["message"]
    assert "tool_calls" not in message
    assert "the tool returned sunny" in message["content"]


async def test_azure_route_and_models(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with http.post(url, json=body, headers={"Authorization": "", "api-key": "k"}) as r:
        answer = await r.json()
    assert answer["model"] == "my-gpt"
    assert "from azure my-gpt" in answer["choices"][0]["message"]["content"]
    async with http.get(sim.url + "/v1/models", headers={"anthropic-version": ""}) as r:
        models = await r.json()
    assert models["object"] == "list"
    assert {m["id"] for m in models["data"]} >= {"gpt-4o-mini", "gpt-4o"}


async def test_request_errors(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as bare:
        async with bare.post(sim.url + "/v1/chat/completions", json=chat("hi")) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "invalid_api_key"
        headers = {"Authorization": "Bearer k"}
        async with bare.post(
            sim.url + "/v1/chat/completions", data=b"{not json", headers=headers
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        body = {"model": "m", "messages": []}
        async with bare.post(sim.url + "/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status == 400
        async with bare.post(sim.url + "/v1/nothing", json=body, headers=headers) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "unknown_url"


async def test_no_auth_option() -> None:
    async with (
        SimServer(SimOptions(require_auth=False)) as sim,
        aiohttp.ClientSession() as bare,
        bare.post(sim.url + "/v1/chat/completions", json=chat("hi")) as r,
    ):
        assert r.status == 200


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=sim.url + "/v1", api_key="sk-test", max_retries=0
    ) as sdk:
        yield sdk


async def test_sdk_non_stream(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=6
    )
    assert r.choices[0].message.content == "Simulated reply from openai gpt-4o-mini: hello"
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 6


async def test_sdk_non_stream_tool_call(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = r.choices[0].message.tool_calls or []
    assert r.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_time", {"tz": "UTC"})
    ]


async def test_sdk_stream_with_tools_and_usage(client: openai.AsyncOpenAI) -> None:
    async with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "what's the weather, both places"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"location": "Paris"}
    assert final.usage is not None and final.usage.total_tokens > 0


async def test_sdk_stream_text(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "tell me"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.startswith("Simulated reply from openai gpt-4o: tell me")


async def test_sdk_sees_sse_framing(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/chat/completions", json=chat("x", stream=True)) as r:
        events = sse(await r.read())
    assert all(name is None for name, _ in events)
    assert events[-1] == (None, "[DONE]")
