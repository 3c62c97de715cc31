"""Stand-in agent services for the agent e2e tests: one aiohttp server on 127.0.0.1, one
path prefix per agent, in a background thread. Agents that think call Plano's model listener
with the openai SDK (answered by the simulated provider)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import orjson
from aiohttp import web


class Agents:
    def __init__(self) -> None:
        self.url = ""
        self.plano = ""  # Plano's model listener, set once it is up
        self.seen: dict[str, list[dict[str, Any]]] = {}
        self.headers: dict[str, list[dict[str, str]]] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{agent}/v1/chat/completions", self.handle)
        app.router.add_post("/filters/{name}/{tail:.*}", self.filter)
        app.router.add_post("/orchestrator/v1/chat/completions", self.orchestrator)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        agent = request.match_info["agent"]
        body = await request.json()
        self.seen.setdefault(agent, []).append(body)
        self.headers.setdefault(agent, []).append(
            {k.lower(): v for k, v in request.headers.items()}
        )
        if agent == "broken":
            return web.json_response(
                {"error": {"message": "agent exploded", "type": "x"}}, status=500
            )
        if agent == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if agent == "slow":
            await asyncio.sleep(5)
        if agent == "crash" and body.get("stream"):
            out = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await out.prepare(request)
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "half"}}],
            }
            await out.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()  # dies mid-stream
            return out
        text = await self.think(agent, body)
        if body.get("stream"):
            return await self.stream(request, text)
        return web.json_response(
            {
                "id": "chatcmpl-agent",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "m"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
            }
        )

    async def orchestrator(self, request: web.Request) -> web.Response:
        """A stand-in orchestrator model: Plano's answer format, steered by the user's words."""
        body = await request.json()
        prompt = body["messages"][0]["content"]
        self.seen.setdefault("orchestrator", []).append(body)
        if "explode" in prompt:
            return web.json_response({"error": {"message": "down", "type": "x"}}, status=400)
        route = (
            '{"route": ["hotel_agent"]}'
            if "nonsense" in prompt
            else ('```json\n{"route": ["weather", "flights"]}\n```')
        )
        return web.json_response(
            {
                "id": "chatcmpl-orch",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": route},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    async def filter(self, request: web.Request) -> web.Response:
        """An HTTP filter (Plano's ``type: http``): marks the last user message."""
        name = request.match_info["name"]
        body = await request.json()
        self.headers.setdefault("filter:" + name, []).append(dict(request.headers))
        for m in reversed(body.get("messages", [])):
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                m["content"] += f" [{name}]"
                break
        return web.json_response(body)

    async def think(self, agent: str, body: dict[str, Any]) -> str:
        names = [m.get("name") for m in body["messages"] if m.get("role") == "assistant"]
        earlier = ",".join(n for n in names if n)
        if agent == "weather":
            client = openai.AsyncOpenAI(base_url=self.plano + "/v1", api_key="sk-agent")
            try:
                answer = await client.chat.completions.create(
                    model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}]
                )
            finally:
                await client.close()
            return f"weather: sunny ({len(answer.choices[0].message.content or '')} chars)"
        return f"{agent}: {len(body['messages'])} messages; earlier=[{earlier}]"

    async def stream(self, request: web.Request, text: str) -> web.StreamResponse:
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
            await out.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        end = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await out.write(b"data: " + orjson.dumps(end) + b"\n\ndata: [DONE]\n\n")
        return out


@contextmanager
def serve_agents(port: int, agents: Agents | None = None) -> Iterator[Agents]:
    """``agents``: a subclass's instance to serve instead (a test's own stand-ins)."""
    agents = agents or Agents()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(agents.app())
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    agents.url = f"http://127.0.0.1:{port}"
    try:
        yield agents
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
