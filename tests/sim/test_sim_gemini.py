"""Gemini generateContent / streamGenerateContent over real HTTP (no SDK: shapes by hand)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from plano.sim import SimOptions, SimServer

GEMINI_TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
            },
            {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {}}},
        ]
    }
]


def request(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def url(sim: SimServer, model: str = "gemini-2.5-flash", action: str = "generateContent") -> str:
    return f"{sim.url}/v1beta/models/{model}:{action}"


async def test_generate_content_shape(http: aiohttp.ClientSession) -> None:
    async with (
        SimServer(SimOptions(cached_tokens=2, reasoning_tokens=7)) as sim,
        http.post(url(sim), json=request("hello there friend")) as r,
    ):
        assert r.status == 200
        body = await r.json()
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["text"].startswith(
        "Simulated reply from gemini gemini-2.5-flash: hello"
    )
    assert candidate["finishReason"] == "STOP"
    assert body["modelVersion"] == "gemini-2.5-flash"
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 16
    assert usage["cachedContentTokenCount"] == 2
    assert usage["thoughtsTokenCount"] == 7
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 16 + 7


async def test_zero_counts_are_left_out(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(url(sim), json=request("hi")) as r:
        usage = (await r.json())["usageMetadata"]
    assert "cachedContentTokenCount" not in usage
    assert "thoughtsTokenCount" not in usage


async def test_function_call_and_max_tokens(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(url(sim), json=request("weather in Rome?", tools=GEMINI_TOOLS)) as r:
        parts = (await r.json())["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    forced = request(
        "hi",
        tools=GEMINI_TOOLS,
        toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
    )
    async with http.post(url(sim), json=forced) as r:
        parts = (await r.json())["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "get_time", "args": {}}}]
    capped = request("hi", generationConfig={"maxOutputTokens": 2})
    async with http.post(url(sim), json=capped) as r:
        candidate = (await r.json())["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert candidate["content"]["parts"] == [{"text": "Simulated reply"}]


async def test_function_response_turn(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "hail"}}}
                ],
            },
        ],
        "tools": GEMINI_TOOLS,
    }
    async with http.post(url(sim), json=body) as r:
        text = (await r.json())["candidates"][0]["content"]["parts"][0]["text"]
    assert "the tool returned hail" in text


async def test_stream_sse(sim: SimServer, http: aiohttp.ClientSession) -> None:
    target = url(sim, action="streamGenerateContent") + "?alt=sse"
    async with http.post(target, json=request("hi", generationConfig={"maxOutputTokens": 5})) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        raw = await r.read()
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b""
    chunks = [orjson.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]
    assert len(chunks) == 5
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Simulated reply from gemini gemini-2.5-flash:"
    assert all("usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_stream_json_array_without_alt(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(url(sim, action="streamGenerateContent"), json=request("hi")) as r:
        chunks = orjson.loads(await r.read())
    assert isinstance(chunks, list) and len(chunks) == 16
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_thoughts_when_asked(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = request("hi", generationConfig={"thinkingConfig": {"includeThoughts": True}})
    async with http.post(url(sim), json=body) as r:
        answer = await r.json()
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"].startswith("Thinking about:")
    assert answer["usageMetadata"]["thoughtsTokenCount"] > 0


async def test_auth_and_errors(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as bare:
        async with bare.post(url(sim), json=request("hi")) as r:
            assert r.status == 403
            error = (await r.json())["error"]
            assert (error["code"], error["status"]) == (403, "PERMISSION_DENIED")
        async with bare.post(url(sim) + "?key=abc", json=request("hi")) as r:
            assert r.status == 200
        async with bare.post(url(sim) + "?key=abc", json={"contents": []}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["status"] == "INVALID_ARGUMENT"
        async with bare.post(url(sim, action="countTokens") + "?key=abc", json={}) as r:
            assert r.status == 404
            assert (await r.json())["error"]["status"] == "NOT_FOUND"
