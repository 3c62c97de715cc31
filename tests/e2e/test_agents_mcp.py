"""MCP tool servers through the plane, end to end: `plano up` with a real MCP server built
with the official `mcp` SDK (tests/e2e/mcp_helpers.py), called by the SDK's own client at
`/mcp/{id}` on the agent listener; plus agent turns in the usage log and the rate limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from tests.e2e.agents_helpers import Agents, serve_agents
from tests.e2e.conftest import Plano, free_port, start_plano
from tests.e2e.mcp_helpers import TOKEN, Recorder, serve_mcp

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

ADMIN = "admin-secret-for-mcp-tests-0123456789"
KEYS = {
    "ops": "sk-plano-ops-0123456789abcdef",
    "guest": "sk-plano-guest-0123456789abcdef",
    "limited": "sk-plano-limited-0123456789abc",
}
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NO_ATLANTIS = """package plano.tools

deny contains msg if {
	input.hop == "tool"
	some call in input.tool_calls
	call.arguments.destination == "Atlantis"
	msg := "no flights to Atlantis"
}
"""


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    with (
        serve_agents(free_port()) as agents,
        serve_mcp(free_port()) as tools,
        serve_mcp(free_port(), stateless=False) as sessions,
    ):
        yield {"agents": agents, "tools": tools, "sessions": sessions}


@pytest.fixture(scope="module")
def plano(
    sims: dict[str, SimServer], servers: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Plano, str]]:
    agents: Agents = servers["agents"]
    port = free_port()
    creds = {"authorization": f"Bearer {TOKEN}"}
    tools_url = f"http://127.0.0.1:{_port(servers['tools'])}"
    config: dict[str, Any] = {
        "version": "v0.4.0",
        "gateway": {"admin_key": ADMIN},
        "tracing": {"random_sampling": 100},
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": sims["ok"].url,
                "default": True,
            }
        ],
        "agents": [
            {"id": "flights", "url": f"{agents.url}/flights"},
            {"id": "travel_tools", "url": tools_url, "type": "mcp", "headers": creds},
            {
                "id": "session_tools",
                "url": f"http://127.0.0.1:{_port(servers['sessions'])}/mcp",
                "type": "mcp",
                "headers": creds,
            },
            {"id": "no_creds", "url": tools_url, "type": "mcp"},
            {"id": "dead_tools", "url": "http://127.0.0.1:9", "type": "mcp"},
        ],
        "auth": {
            "keys": [
                {
                    "id": "ops",
                    "key": KEYS["ops"],
                    "principal": {"user": "olga", "team": "ops"},
                    "models": ["openai/*"],  # a server id is not a model: MCP calls still pass
                },
                {"id": "guest", "key": KEYS["guest"], "agents": ["flights"]},
                {"id": "limited", "key": KEYS["limited"], "rate_limits": ["two-a-minute"]},
            ]
        },
        "tool_rules": [{"name": "no-booking", "deny": ["book_*"], "action": "block"}],
        "policies": [{"name": "atlantis", "rego": NO_ATLANTIS}],
        "rate_limits": [
            {
                "name": "two-a-minute",
                "scope": "key",
                "requests": 2,
                "per": "minute",
                "applies": "key",
            }
        ],
        "listeners": [
            {"type": "model", "name": "llm", "port": 12000},
            {
                "type": "agent",
                "name": "agents",
                "port": port,
                "agents": [{"id": "flights", "description": "flights"}],
            },
        ],
    }
    p = start_plano(config, tmp_path_factory.mktemp("mcp"))
    agents.plano = p.url
    yield p, f"http://127.0.0.1:{port}"
    assert p.stop() == 0, p.output()


def _port(recorder: Recorder) -> int:
    return recorder.port


def client(url: str, key: str, *, mode: str = "auto", traced: bool = False) -> Client:
    headers = {"authorization": f"Bearer {key}"}
    if traced:
        headers["traceparent"] = TRACE
    http = create_mcp_http_client(headers=headers)
    return Client(streamable_http_client(url, http_client=http), mode=mode)  # type: ignore[arg-type]


async def _list_and_call(url: str, key: str, mode: str) -> tuple[list[str], Any]:
    async with client(url, key, mode=mode, traced=True) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        result = await c.call_tool("lookup_flight", {"origin": "SFO", "destination": "NRT"})
        again = await c.call_tool("lookup_flight", {"origin": "OSL", "destination": "NRT"})
        return names, (result, again)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_tools_listed_and_called_through_the_plane(
    plano: tuple[Plano, str], servers: dict[str, Any], mode: str
) -> None:
    p, url = plano
    server = "travel_tools" if mode == "auto" else "session_tools"
    recorder: Recorder = servers["tools" if mode == "auto" else "sessions"]
    before = len(recorder.seen)
    names, (result, again) = asyncio.run(_list_and_call(f"{url}/mcp/{server}", KEYS["ops"], mode))
    # The tool rule refuses book_*: left out of the listing.
    assert names == ["lookup_flight"]
    assert "PL33" in result.content[0].text and not result.is_error
    assert "PL33" in again.content[0].text
    seen = recorder.seen[before:]
    posts = [h for h in seen if h["method"] == "POST"]
    # The server got its own credentials, never the client's Plano key; the trace continued.
    assert all(h["authorization"] == f"Bearer {TOKEN}" for h in posts)
    assert all(TRACE.split("-")[1] in h["traceparent"] for h in posts)
    assert all(h["traceparent"] != TRACE for h in posts)  # a new span: the tool hop's
    assert {h["x-arch-upstream"] for h in posts} == {server}
    # The tool hop is a span of the client's trace, under the MCP request's own span.
    trace_id = TRACE.split("-")[1]
    deadline = time.monotonic() + 60
    while True:
        got = httpx.get(
            f"{p.url}/plano/v1/traces/{trace_id}", headers={"authorization": f"Bearer {ADMIN}"}
        )
        spans = got.json().get("spans", []) if got.status_code == 200 else []
        tools = [s for s in spans if s["name"] == f"tool {server}"]
        if len(tools) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(tools) >= 3, spans  # tools/list and two calls (with legacy: the handshake too)
    by_id = {s["span_id"]: s for s in spans}
    assert all(by_id[t["parent_id"]]["kind"] == "server" for t in tools)
    sent = {h["traceparent"].split("-")[2] for h in posts}
    assert sent <= {t["span_id"] for t in tools}  # the server saw the tool hop's span
    if mode == "legacy":
        # The client's session is carried through both ways: one initialize, reused after.
        sessions = {h.get("mcp-session-id") for h in posts[1:]}
        assert len(sessions) == 1 and None not in sessions
        assert sum("initialize" in str(h.get("mcp-method", "")) for h in posts) <= 1


async def _refused(url: str, key: str, tool: str, args: dict[str, Any]) -> MCPError:
    """The error a refused call raises (caught inside: the client's task group would wrap
    it); the session goes on after it."""
    async with client(url, key) as c:
        try:
            await c.call_tool(tool, args)
        except MCPError as err:
            ok = await c.call_tool("lookup_flight", {"origin": "SFO", "destination": "NRT"})
            assert "PL33" in ok.content[0].text
            return err
    raise AssertionError("the call was not refused")


def test_a_denied_tool_is_a_jsonrpc_error_not_a_500(
    plano: tuple[Plano, str], servers: dict[str, Any]
) -> None:
    p, url = plano
    tools = f"{url}/mcp/travel_tools"
    recorder: Recorder = servers["tools"]
    before = len(recorder.seen)
    blocked = asyncio.run(_refused(tools, KEYS["ops"], "book_flight", {"flight": "PL33"}))
    assert "book_flight" in str(blocked) and blocked.error.code == -32003
    args = {"origin": "A", "destination": "Atlantis"}
    denied = asyncio.run(_refused(tools, KEYS["ops"], "lookup_flight", args))
    assert "Atlantis" in str(denied) and denied.error.code == -32003
    # Neither reached the server (only the two allowed calls after them did).
    called = [
        h.get("mcp-name") for h in recorder.seen[before:] if h.get("mcp-method") == "tools/call"
    ]
    assert called == ["lookup_flight", "lookup_flight"]
    # Raw JSON-RPC: HTTP 200 with an error for the request's id.
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "book_flight", "arguments": {"flight": "x"}},
    }
    r = httpx.post(tools, json=body, headers={"authorization": f"Bearer {KEYS['ops']}"})
    assert r.status_code == 200 and r.json()["id"] == 7
    assert r.json()["error"]["data"]["status"] == 403
    # The decisions are in the audit trail.
    audit = httpx.get(
        p.url + "/plano/v1/audit",
        headers={"authorization": f"Bearer {ADMIN}"},
        params={"limit": 50},
    )
    assert audit.status_code == 200
    assert "no-booking" in audit.text and "atlantis" in audit.text


def test_auth_and_faults(plano: tuple[Plano, str]) -> None:
    _, url = plano
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    # No key: 401 before the body, as HTTP (what MCP clients expect for auth).
    r = httpx.post(f"{url}/mcp/travel_tools", json=call)
    assert r.status_code == 401 and r.json()["error"]["code"] == -32001
    # A key whose agents globs do not name the server.
    guest = {"authorization": f"Bearer {KEYS['guest']}"}
    r = httpx.post(f"{url}/mcp/travel_tools", json=call, headers=guest)
    assert r.status_code == 200 and r.json()["error"]["data"]["code"] == "agent_not_allowed"
    ops = {"authorization": f"Bearer {KEYS['ops']}"}
    # Unknown server; dead server (a JSON-RPC error); a server refusing Plano (no credentials).
    r = httpx.post(f"{url}/mcp/nope", json=call, headers=ops)  # a wrong URL: HTTP 404
    assert r.status_code == 404 and r.json()["error"]["code"] == -32004
    r = httpx.post(f"{url}/mcp/dead_tools", json=call, headers=ops)
    assert r.status_code == 200 and r.json()["error"]["data"]["status"] == 502
    r = httpx.post(f"{url}/mcp/no_creds", json=call, headers=ops)
    assert r.status_code == 401  # the server's own answer, passed on
    # Not JSON-RPC: 400 with a JSON-RPC parse error; batches refused.
    r = httpx.post(f"{url}/mcp/travel_tools", content=b"{nope", headers=ops)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    r = httpx.post(f"{url}/mcp/travel_tools", json=[call], headers=ops)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    assert httpx.get(f"{url}/mcp/travel_tools", headers=ops).status_code == 405


def _usage(p: Plano, group_by: str) -> dict[str, Any]:
    r = httpx.get(
        p.url + "/plano/v1/usage",
        params={"group_by": group_by},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_agent_turns_in_the_usage_log_and_rate_limited(plano: tuple[Plano, str]) -> None:
    p, url = plano
    ops = openai.OpenAI(base_url=url + "/v1", api_key=KEYS["ops"])
    answer = ops.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        extra_headers={"x-plano-session-id": "trip-7"},
    )
    assert "flights" in (answer.choices[0].message.content or "")
    # Two turns a minute for the limited key: the third is a 429 in the client's shape.
    limited = openai.OpenAI(base_url=url + "/v1", api_key=KEYS["limited"], max_retries=0)
    for _ in range(2):
        limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.RateLimitError) as refused:
        limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.response.headers.get("retry-after")
    deadline = time.monotonic() + 60  # batched; late on a loaded box
    while True:  # the usage log is written in batches
        groups = _usage(p, "agent,route")["groups"]
        agents = {(g.get("agent"), g.get("route")): g for g in groups}
        tools_seen = any(str(g.get("route", "")).startswith("mcp:travel_tools") for g in groups)
        if ("flights", "flights") in agents and tools_seen:
            break
        if time.monotonic() > deadline:
            raise AssertionError(groups)
        time.sleep(0.2)
    turns = agents[("flights", "flights")]
    assert turns["requests"] >= 3  # ops once, limited twice (the refused one too: an error)
    by_session = _usage(p, "session,agent")["groups"]
    assert any(g.get("session") == "trip-7" and g.get("agent") == "flights" for g in by_session)
    tools = [g for g in groups if str(g.get("route", "")).startswith("mcp:travel_tools")]
    assert all(g["agent"] == "travel_tools" for g in tools)


def test_tool_calls_count_against_the_rate_limits(plano: tuple[Plano, str]) -> None:
    _, url = plano
    call = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "lookup_flight", "arguments": {"origin": "A", "destination": "B"}},
    }
    limited = {"authorization": f"Bearer {KEYS['limited']}"}
    # Two a minute, already spent by the turns of the test before: a JSON-RPC error.
    answer = httpx.post(f"{url}/mcp/travel_tools", json=call, headers=limited).json()
    assert answer["error"]["code"] == -32029 and answer["error"]["data"]["status"] == 429
    assert "two-a-minute" in answer["error"]["message"]
