"""Plano's MCP filters: a JSON-RPC ``tools/call`` over MCP streamable HTTP.

Per filter entry, at ``/mcp`` on the url's host and port (Plano ignores the url's path)::

    initialize (protocolVersion 2024-11-05)     -> mcp-session-id header
    notifications/initialized
    tools/call {name: tool, arguments: {body: <the JSON body>, path: "<api path>"}}

Unlike Plano, which opens a session per request, the session is opened once and reused by
every request (calls are told apart by their JSON-RPC ids); when the server says the session
is gone (404, or 400 to a request that named a session) it is opened again and the call
retried once. A reply is JSON or SSE (``event: message`` with one ``data:`` line); the
tool's result is ``structuredContent.result``, else the JSON text of ``content[0]``;
``isError: true`` is the filter rejecting the request (400). An HTTP error status (after the
one retry on a stale session) is a failure, which the entry's ``on_error`` handles.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from plano.config.filters import RemoteFilterSpec
from plano.core.sse import SSEParser
from plano.filters.client import FilterClient, Reply
from plano.filters.errors import FilterFailed, FilterRejected, error_detail

__all__ = ["PROTOCOL_VERSION", "McpSession", "mcp_endpoint", "read_message", "tool_result"]

PROTOCOL_VERSION = "2024-11-05"
_ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
_CLIENT_INFO = {"name": "plano", "version": "1.0.0"}


def mcp_endpoint(url: str) -> str:
    """``scheme://host:port/mcp`` of a filter's url (its path is ignored, as Plano does)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/mcp"


def read_message(filter_id: str, reply: Reply, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response to ``request_id`` in a JSON or SSE reply."""
    ctype = reply.headers.get("content-type", "")
    if "text/event-stream" in ctype:
        parser = SSEParser()
        events = parser.feed(reply.body) + parser.flush()
        candidates = [e.data for e in events if e.data]
    else:
        candidates = [reply.body.decode("utf-8", "replace")]
    fallback: dict[str, Any] | None = None
    for data in candidates:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(msg, dict) or ("result" not in msg and "error" not in msg):
            continue  # a notification or a server request before the answer
        if msg.get("id") == request_id:
            return msg
        fallback = fallback or msg
    if fallback is not None:
        return fallback
    raise FilterFailed(filter_id, "its MCP reply holds no JSON-RPC response")


def tool_result(filter_id: str, msg: Mapping[str, Any]) -> Any:
    """The value a ``tools/call`` returned (the new body)."""
    error = msg.get("error")
    if error is not None:
        text = error.get("message") if isinstance(error, dict) else error
        raise FilterFailed(filter_id, f"MCP error: {str(text)[:300]}")
    result = msg.get("result")
    if not isinstance(result, dict):
        raise FilterFailed(filter_id, "its MCP reply has no result")
    content = result.get("content")
    first = content[0] if isinstance(content, list) and content else None
    text = first.get("text") if isinstance(first, dict) else None
    if result.get("isError") is True:
        raise FilterRejected(filter_id, 400, str(text or "the tool reported an error")[:1000])
    structured = result.get("structuredContent")
    if isinstance(structured, dict) and "result" in structured:
        return structured["result"]
    if not isinstance(text, str):
        raise FilterFailed(filter_id, "its MCP result has neither structuredContent nor text")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FilterFailed(filter_id, "its MCP result text is not JSON") from None


class McpSession:
    """One MCP filter server: its session (opened once, reused) and its tool calls."""

    def __init__(self, spec: RemoteFilterSpec, client: FilterClient) -> None:
        self.spec = spec
        self.client = client
        self.endpoint = mcp_endpoint(spec.url)
        self.tool = spec.tool or spec.id
        self.session_id: str | None = None
        self._open = False
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        #: Sessions opened so far (the first and every re-open).
        self.initialized = 0

    #: Stream events go to the tool as JSON (``body`` must be JSON).
    stream_as_sse: ClassVar[bool] = False

    async def call(
        self, body: bytes, path: str, headers: Mapping[str, str], content_type: str = ""
    ) -> bytes:
        """``tools/call`` of the tool with ``body`` (JSON bytes; ``content_type`` is unused:
        it is always JSON); the new body as JSON."""
        session = await self._session()
        reply, rid = await self._tool_call(body, path, headers, session)
        if reply.status in (400, 404) and session is not None:
            await self._forget(session)  # the server no longer knows it
            session = await self._session()
            reply, rid = await self._tool_call(body, path, headers, session)
        if reply.status >= 300:
            # A tool says no with isError; an HTTP error from an MCP server is a protocol or
            # set-up problem (no /mcp, credentials withheld), not the client's fault.
            detail = error_detail(reply.body)[:200]
            raise FilterFailed(self.spec.id, f"it answered HTTP {reply.status} {detail}".strip())
        return orjson.dumps(tool_result(self.spec.id, read_message(self.spec.id, reply, rid)))

    async def _tool_call(
        self, body: bytes, path: str, headers: Mapping[str, str], session: str | None
    ) -> tuple[Reply, int]:
        rid = next(self._ids)
        # Spliced, not re-encoded: a large body is not parsed and dumped again.
        payload = b"".join(
            (
                b'{"jsonrpc":"2.0","id":',
                str(rid).encode(),
                b',"method":"tools/call","params":{"name":',
                orjson.dumps(self.tool),
                b',"arguments":{"body":',
                body,
                b',"path":',
                orjson.dumps(path),
                b"}}}",
            )
        )
        return await self._post(payload, headers, session), rid

    async def _session(self) -> str | None:
        if self._open:
            return self.session_id
        async with self._lock:
            if not self._open:  # another request may have opened it meanwhile
                await self._initialize()
            return self.session_id

    async def _forget(self, session: str) -> None:
        async with self._lock:
            if self.session_id == session:
                self._open = False
                self.session_id = None

    async def _initialize(self) -> None:
        rid = next(self._ids)
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": _CLIENT_INFO,
        }
        init = {"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": params}
        reply = await self._post(orjson.dumps(init), {}, None)
        if reply.status >= 300:
            raise FilterFailed(self.spec.id, f"MCP initialize answered HTTP {reply.status}")
        msg = read_message(self.spec.id, reply, rid)
        if msg.get("error") is not None:
            raise FilterFailed(self.spec.id, "MCP initialize was refused")
        # A server without sessions (stateless) sends none: calls then carry none.
        session = reply.headers.get("mcp-session-id") or None
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        done = await self._post(orjson.dumps(note), {}, session)
        if done.status >= 300:
            raise FilterFailed(self.spec.id, f"MCP initialized answered HTTP {done.status}")
        self.session_id = session
        self._open = True
        self.initialized += 1

    async def _post(self, payload: bytes, headers: Mapping[str, str], session: str | None) -> Reply:
        sent = {**headers, **_ACCEPT}
        if session is not None:
            sent["mcp-session-id"] = session
        return await self.client.post(self.spec.id, self.endpoint, payload, sent, self.spec.timeout)
