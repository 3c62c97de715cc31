"""MCP tool servers behind the plane: the JSON-RPC side, pure (values in, values out).

An agent entry with ``type: mcp`` is an MCP tool server (streamable HTTP). The agent
listener's ``/mcp/{id}`` route (``server/mcp_proxy.py``) passes each of a client's JSON-RPC
messages on to it; what it needs to decide is here: which message a body holds
(:func:`parse_message`), which tool a ``tools/call`` names with what arguments
(:func:`tool_call`), the tools a ``tools/list`` answer keeps after policies
(:func:`keep_tools`), the JSON-RPC messages of a JSON or SSE reply (:func:`reply_messages`),
and a Plano error as a JSON-RPC error (:func:`rpc_error`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from plano.core.sse import SSEParser
from plano.errors import InvalidRequest, PlanoError

__all__ = [
    "McpMessage",
    "error_code",
    "keep_tools",
    "mcp_url",
    "parse_message",
    "reply_messages",
    "rpc_error",
    "tool_call",
]

#: JSON-RPC's own codes, and the server-error range (-32000..-32099) for Plano's refusals.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
_BY_STATUS = {401: -32001, 403: -32003, 404: -32004, 408: -32008, 413: -32013, 429: -32029}


@dataclass(frozen=True, slots=True)
class McpMessage:
    """One JSON-RPC message from a client: a request (``id`` set), or a notification or a
    response to the server (``id`` absent: nothing is answered but 202)."""

    method: str | None
    id: str | int | None
    params: Mapping[str, Any]
    #: Whether the message carries an ``id`` (``null`` is an id the client chose to send).
    has_id: bool

    @property
    def is_request(self) -> bool:
        return self.has_id and self.method is not None


def mcp_url(url: str) -> str:
    """Where the server's streamable HTTP endpoint is: the URL as written when it has a
    path, else ``/mcp`` on it (the SDKs' default)."""
    url = url.rstrip("/")
    return url if urlsplit(url).path not in ("", "/") else url + "/mcp"


def parse_message(body: bytes) -> McpMessage:
    """The one JSON-RPC message in a POST body. Batches are refused (JSON-RPC batching left
    MCP in 2025-06-18)."""
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body is not JSON.", code="parse_error") from None
    if isinstance(msg, list):
        raise InvalidRequest("JSON-RPC batches are not supported.", code="invalid_request")
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise InvalidRequest("The body is not a JSON-RPC 2.0 message.", code="invalid_request")
    method = msg.get("method")
    if method is not None and not isinstance(method, str):
        raise InvalidRequest("The method must be a string.", code="invalid_request")
    ident = msg.get("id")
    if ident is not None and not isinstance(ident, (str, int)):
        raise InvalidRequest("The id must be a string or a number.", code="invalid_request")
    params = msg.get("params")
    return McpMessage(method, ident, params if isinstance(params, dict) else {}, "id" in msg)


def tool_call(msg: McpMessage) -> tuple[str, dict[str, Any]]:
    """The tool a ``tools/call`` names and its arguments."""
    name = msg.params.get("name")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise InvalidRequest("tools/call needs the tool's name.", code="invalid_params")
    arguments = msg.params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidRequest("tools/call arguments must be an object.", code="invalid_params")
    return name, arguments


def reply_messages(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a server's reply (JSON, or SSE ``message`` events)."""
    if "text/event-stream" in content_type:
        parser = SSEParser()
        datas = [e.data for e in parser.feed(body) + parser.flush() if e.data]
    else:
        datas = [body.decode("utf-8", "replace")] if body.strip() else []
    out: list[dict[str, Any]] = []
    for data in datas:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(msg, dict):
            out.append(msg)
    return out


def keep_tools(reply: dict[str, Any], kept: Collection[str]) -> tuple[dict[str, Any], int]:
    """A ``tools/list`` answer with only the tools in ``kept``; how many were left out."""
    result = reply.get("result")
    tools = result.get("tools") if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(tools, list):
        return reply, 0
    left = [t for t in tools if isinstance(t, dict) and t.get("name") in kept]
    if len(left) == len(tools):
        return reply, 0
    return {**reply, "result": {**result, "tools": left}}, len(tools) - len(left)


def error_code(err: PlanoError) -> int:
    """A Plano error's JSON-RPC code: JSON-RPC's own for malformed messages, the
    server-error range by HTTP status for refusals, internal error for upstream failures."""
    if err.code == "parse_error":
        return PARSE_ERROR
    if err.code == "invalid_request":
        return INVALID_REQUEST
    if err.code == "invalid_params":
        return INVALID_PARAMS
    return _BY_STATUS.get(err.status, INVALID_REQUEST if err.status < 500 else INTERNAL_ERROR)


def rpc_error(ident: str | int | None, err: PlanoError) -> bytes:
    """The JSON-RPC error answering ``ident``: the message, and Plano's status, type and code
    in ``data`` (what the OpenAI-shaped error would say)."""
    data: dict[str, Any] = {"status": err.status, "type": err.error_type}
    if err.code is not None:
        data["code"] = err.code
    error = {"code": error_code(err), "message": err.message, "data": data}
    return orjson.dumps({"jsonrpc": "2.0", "id": ident, "error": error})
