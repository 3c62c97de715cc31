from __future__ import annotations

import orjson
import pytest

from plano.agents.mcp import (
    INVALID_PARAMS,
    PARSE_ERROR,
    keep_tools,
    mcp_url,
    parse_message,
    reply_messages,
    rpc_error,
    tool_call,
)
from plano.errors import InvalidRequest, PermissionDenied, UpstreamConnectError


def test_mcp_url_keeps_a_path_else_adds_mcp() -> None:
    assert mcp_url("http://h:1") == "http://h:1/mcp"
    assert mcp_url("http://h:1/") == "http://h:1/mcp"
    assert mcp_url("http://h:1/tools/mcp/") == "http://h:1/tools/mcp"


def test_parse_message_requests_notifications_and_bad_bodies() -> None:
    msg = parse_message(b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}')
    assert msg.is_request and msg.id == 3 and msg.params == {"name": "x"}
    note = parse_message(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert not note.is_request and note.method == "notifications/initialized"
    for body, code in [
        (b"{nope", "parse_error"),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', "invalid_request"),
        (b'{"id":1,"method":"ping"}', "invalid_request"),
        (b'{"jsonrpc":"2.0","id":[1],"method":"ping"}', "invalid_request"),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', "invalid_request"),
    ]:
        with pytest.raises(InvalidRequest) as err:
            parse_message(body)
        assert err.value.code == code


def test_tool_call_name_and_arguments() -> None:
    msg = parse_message(
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{"a":1}}}'
    )
    assert tool_call(msg) == ("f", {"a": 1})
    bare = parse_message(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f"}}')
    assert tool_call(bare) == ("f", {})
    for params in ('{"arguments":{}}', '{"name":"f","arguments":[1]}', '{"name":""}'):
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":' + params.encode() + b"}"
        with pytest.raises(InvalidRequest):
            tool_call(parse_message(body))


def test_reply_messages_from_json_and_sse() -> None:
    assert reply_messages(b'{"jsonrpc":"2.0","id":1,"result":{}}', "application/json") == [
        {"jsonrpc": "2.0", "id": 1, "result": {}}
    ]
    sse = b'event: message\r\ndata: {"jsonrpc":"2.0","id":2,"result":{"tools":[]}}\r\n\r\n'
    assert reply_messages(sse, "text/event-stream")[0]["id"] == 2
    assert reply_messages(b"", "application/json") == []
    assert reply_messages(b"data: nope\n\n", "text/event-stream") == []


def test_keep_tools_leaves_out_the_refused() -> None:
    reply = {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "a"}, {"name": "b"}]}}
    kept, dropped = keep_tools(reply, {"a"})
    assert kept["result"]["tools"] == [{"name": "a"}] and dropped == 1
    assert reply["result"]["tools"] == [{"name": "a"}, {"name": "b"}]  # not mutated
    assert keep_tools(reply, {"a", "b"}) == (reply, 0)
    assert keep_tools({"error": {}}, set()) == ({"error": {}}, 0)


def test_rpc_error_codes_and_data() -> None:
    denied = orjson.loads(rpc_error(7, PermissionDenied("no", code="policy_denied")))
    assert denied["id"] == 7 and denied["error"]["code"] == -32003
    assert denied["error"]["data"] == {
        "status": 403,
        "type": "permission_error",
        "code": "policy_denied",
    }
    down = orjson.loads(rpc_error("x", UpstreamConnectError("gone")))
    assert down["error"]["code"] == -32603 and down["error"]["data"]["status"] == 502
    bad = orjson.loads(rpc_error(None, InvalidRequest("?", code="parse_error")))
    assert bad["id"] is None and bad["error"]["code"] == PARSE_ERROR
    params = orjson.loads(rpc_error(1, InvalidRequest("?", code="invalid_params")))
    assert params["error"]["code"] == INVALID_PARAMS
