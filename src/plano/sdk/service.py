"""An agent as an HTTP service Plano calls: ``POST /v1/chat/completions`` (OpenAI chat shape,
streamed or not), ``GET /healthz``, and ``POST /events`` for topics Plano pushes
(``agents[].subscriptions``).

The handler is ``async def handler(messages, turn) -> str | AsyncIterator[str]`` (a plain
function works too): the conversation in OpenAI's message format and the turn's ids; it
returns the answer, or yields it in pieces to stream. While it runs, :data:`current_turn` is
set, so :func:`plano.sdk.llm` calls and :func:`plano.sdk.publish` carry the turn's
``traceparent``, request id and session id.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from plano.sdk.context import Turn, current_turn, turn_from_headers
from plano.sdk.pubsub import Event

__all__ = ["AgentService", "Handler", "serve"]

log = logging.getLogger("plano.sdk")

Handler = Callable[[list[dict[str, Any]], Turn], Any]
EventHandler = Callable[[Event], Awaitable[None] | None]


class AgentService:
    """One agent's HTTP service. ``name``: the model name it answers with."""

    def __init__(self, handler: Handler, *, name: str | None = None) -> None:
        self.handler = handler
        self.name = name or os.environ.get("PLANO_AGENT_ID") or "agent"
        self._events: dict[str, EventHandler] = {}

    def on(self, topic: str) -> Callable[[EventHandler], EventHandler]:
        """Register a handler for pushed events of ``topic`` (``*``: any)."""

        def register(fn: EventHandler) -> EventHandler:
            self._events[topic] = fn
            return fn

        return register

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/healthz", self._health)
        app.router.add_post("/events", self._event)
        return app

    def run(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        """Serve until stopped (SIGTERM/SIGINT); ``port`` default: ``PORT`` or 8000."""
        port = port or int(os.environ.get("PORT", "8000"))
        logging.basicConfig(level=logging.INFO)
        web.run_app(
            self.app(), host=host, port=port, print=None, shutdown_timeout=5.0, access_log=None
        )

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "agent": self.name, "pid": os.getpid()})

    async def _event(self, request: web.Request) -> web.Response:
        event = Event.from_envelope(await request.json())
        fn = self._events.get(event.topic) or self._events.get("*")
        if fn is None:
            return web.json_response({"error": f"no handler for {event.topic}"}, status=404)
        token = current_turn.set(turn_from_headers(request.headers))
        try:
            result = fn(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a 500 makes Plano retry the delivery
            log.exception("event handler for %s failed", event.topic)
            return web.json_response({"error": str(exc)}, status=500)
        finally:
            current_turn.reset(token)
        return web.json_response({"ok": True})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "the body is not a chat completions request")
        turn = turn_from_headers(request.headers)
        token = current_turn.set(turn)
        try:
            result = self.handler(messages, turn)
            if inspect.isawaitable(result):
                result = await result
            if body.get("stream"):
                return await self._stream(request, _pieces(result))
            if not isinstance(result, str):
                result = "".join([p async for p in _pieces(result)])
            return web.json_response(_completion(self.name, result))
        except Exception as exc:
            log.exception("agent %s failed", self.name)
            return _error(500, f"{type(exc).__name__}: {exc}")
        finally:
            current_turn.reset(token)

    async def _stream(self, request: web.Request, pieces: AsyncIterator[str]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        first = True
        async for piece in pieces:
            delta: dict[str, Any] = {"content": piece}
            if first:
                delta["role"], first = "assistant", False
            await resp.write(_chunk(cid, created, self.name, delta, None))
        await resp.write(_chunk(cid, created, self.name, {}, "stop"))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


async def _pieces(result: Any) -> AsyncIterator[str]:
    if isinstance(result, str):
        yield result
    elif hasattr(result, "__aiter__"):
        async for piece in result:
            yield str(piece)
    else:
        for piece in result:
            yield str(piece)
            await asyncio.sleep(0)


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "agent_error", "code": None}}
    return web.json_response(body, status=status)


def serve(handler: Handler, *, name: str | None = None, port: int | None = None) -> None:
    """``AgentService(handler, name=name).run(port=port)``."""
    AgentService(handler, name=name).run(port=port)
