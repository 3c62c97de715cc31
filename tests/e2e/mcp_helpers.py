"""A real MCP tool server for the e2e tests, built with the official ``mcp`` SDK
(``MCPServer``, streamable HTTP) and served by uvicorn in a background thread. It demands a
bearer token (the credentials Plano adds from the config) and records each request's
headers, so the tests can see what the plane sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN = "tools-token-0123456789"


def tool_server() -> MCPServer:
    app = MCPServer("travel-tools")

    @app.tool()
    def lookup_flight(origin: str, destination: str) -> dict[str, Any]:
        """Find a flight between two cities."""
        return {"flight": f"PL{len(origin)}{len(destination)}", "from": origin, "to": destination}

    @app.tool()
    def book_flight(flight: str) -> str:
        """Book a flight (the tests' tool rules refuse it)."""
        return f"booked {flight}"

    return app


class Recorder:
    """ASGI middleware: 401 without the token; every request's headers kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[dict[str, str]] = []
        self.port = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({"method": scope["method"], **headers})
        if headers.get("authorization") != f"Bearer {TOKEN}":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"no token"})
            return
        await self.app(scope, receive, send)


@contextmanager
def serve_mcp(port: int, *, stateless: bool = True) -> Iterator[Recorder]:
    """The tool server on 127.0.0.1:``port`` (``stateless``: no sessions, JSON answers; else
    sessions and SSE answers, the SDK's defaults)."""
    app = tool_server().streamable_http_app(stateless_http=stateless, json_response=stateless)
    recorder = Recorder(app)
    recorder.port = port
    server = uvicorn.Server(
        uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the MCP tool server did not start")
        time.sleep(0.02)
    try:
        yield recorder
    finally:
        server.should_exit = True
        thread.join(10)
