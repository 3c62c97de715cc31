"""MCP replies (JSON or SSE) and tool results, as Plano reads them; sessions opened once even
under concurrent requests."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from tests.filters.standins import McpFilter

from plano.config.filters import McpFilterSpec
from plano.filters.client import FilterClient, Reply
from plano.filters.errors import FilterFailed, FilterRejected
from plano.filters.mcp import McpSession, mcp_endpoint, read_message, tool_result


def _json(msg: Any) -> Reply:
    return Reply(200, {"content-type": "application/json"}, orjson.dumps(msg))


def _sse(*msgs: Any) -> Reply:
    body = b"".join(b"event: message\ndata: " + orjson.dumps(m) + b"\n\n" for m in msgs)
    return Reply(200, {"content-type": "text/event-stream"}, body.rstrip(b"\n"))


def test_the_endpoint_is_mcp_on_the_urls_host() -> None:
    assert mcp_endpoint("http://guard:8000/some/path") == "http://guard:8000/mcp"
    assert mcp_endpoint("https://guard.example") == "https://guard.example/mcp"


def test_read_message_finds_the_answer_among_notifications() -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/progress"}
    answer = {"jsonrpc": "2.0", "id": 7, "result": {"ok": 1}}
    assert read_message("f", _sse(note, answer), 7) == answer  # no trailing blank line
    assert read_message("f", _json(answer), 7) == answer
    with pytest.raises(FilterFailed, match="no JSON-RPC response"):
        read_message("f", _sse(note), 7)
    with pytest.raises(FilterFailed):
        read_message("f", Reply(200, {}, b"<html>"), 7)


@pytest.mark.parametrize(
    ("result", "value"),
    [
        ({"structuredContent": {"result": {"a": 1}}, "content": []}, {"a": 1}),
        ({"content": [{"type": "text", "text": '{"a": 2}'}]}, {"a": 2}),
    ],
)
def test_tool_result_structured_or_text(result: dict[str, Any], value: Any) -> None:
    assert tool_result("f", {"result": result}) == value


def test_tool_errors() -> None:
    rejected = {"isError": True, "content": [{"type": "text", "text": "PII found"}]}
    with pytest.raises(FilterRejected) as exc:
        tool_result("guard", {"result": rejected})
    assert exc.value.status == 400 and exc.value.message == "Rejected by filter 'guard': PII found"
    with pytest.raises(FilterFailed, match="MCP error: no such tool"):
        tool_result("f", {"error": {"code": -32602, "message": "no such tool"}})
    with pytest.raises(FilterFailed, match="not JSON"):
        tool_result("f", {"result": {"content": [{"type": "text", "text": "plain"}]}})
    with pytest.raises(FilterFailed, match="neither"):
        tool_result("f", {"result": {"content": []}})


async def test_concurrent_first_requests_open_one_session() -> None:
    server = await McpFilter().start()
    client = FilterClient()
    try:
        spec = McpFilterSpec.model_validate({"id": "echo", "url": server.url})
        session = McpSession(spec, client)
        body = orjson.dumps({"messages": []})
        replies = await asyncio.gather(*(session.call(body, "/v1/x", {}) for _ in range(8)))
        assert all(orjson.loads(r) == {"messages": []} for r in replies)
        assert server.initializes == 1 and session.initialized == 1
        assert len(server.calls) == 8
    finally:
        await client.close()
        await server.stop()
