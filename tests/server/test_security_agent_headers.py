"""What an agent receives of the client's headers (``server/agent_calls.py``: report-only
for this review, its owner is still editing it). An agent is another origin: the client's
credentials for the gateway (the admin key, a Plano key), its cookies and proxy credentials
must not reach it unless the agent is configured with ``forward_auth: true`` (the admin key
never). MCP tool servers and push delivery pass only an allow-list."""

from __future__ import annotations

from typing import cast

from plano.agents.directory import StaticDirectory
from plano.core.model import ChatRequest, Message
from plano.core.trace import TraceContext
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import FilterChain
from plano.providers.transport import UpstreamPool
from plano.server.agent_calls import AgentCaller, hop_headers
from plano.server.body import BodyReader
from plano.server.mcp_proxy import McpProxy, McpServer

SECRETS = {
    "authorization": "Bearer vk-SECRET-1",
    "x-api-key": "vk-SECRET-2",
    "x-plano-key": "vk-SECRET-3",
    "x-plano-admin-key": "adm-SECRET-4",
    "cookie": "session=SECRET-5",
    "proxy-authorization": "Basic SECRET-6",
    "api-key": "azure-SECRET-7",
    "x-goog-api-key": "goog-SECRET-8",
}


def _ctx(headers: dict[str, str]) -> RequestContext:
    trace = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    return RequestContext("req_1", "openai_chat", headers, trace=trace)


def test_the_gateway_credentials_that_are_dropped_today() -> None:
    headers = {**SECRETS, "x-team": "blue"}
    out = hop_headers(_ctx(headers), "a1", "agents", headers)
    for name in ("authorization", "x-api-key", "x-plano-key"):
        assert name not in out
    assert out["x-team"] == "blue"


def test_no_client_credential_reaches_an_agent() -> None:
    headers = {**SECRETS, "x-team": "blue"}
    out = hop_headers(_ctx(headers), "a1", "agents", headers)
    assert "SECRET" not in repr(out), {k: v for k, v in out.items() if "SECRET" in v}


def test_forward_auth_passes_the_client_credentials_but_never_the_admin_key() -> None:
    headers = {**SECRETS, "x-team": "blue"}
    out = hop_headers(_ctx(headers), "a1", "agents", headers, forward_auth=True)
    assert out["authorization"] == "Bearer vk-SECRET-1"
    assert out["cookie"] == "session=SECRET-5"
    assert "x-plano-admin-key" not in out


def test_the_caller_forwards_only_for_agents_that_opt_in() -> None:

    headers = {**SECRETS, "x-team": "blue"}
    caller = AgentCaller(
        cast(UpstreamPool, None),  # build() sends nothing
        StaticDirectory({}),
        {},
        forward_auth=frozenset({"trusted"}),
    )
    req = ChatRequest(model="m", messages=[Message(role="user")])
    for agent, forwarded in (("trusted", True), ("other", False)):
        ctx = _ctx(headers)
        dep = caller.deployment(agent, "http://127.0.0.1:9/", "m")
        _, ureq = caller.build(ctx, dep, req)
        assert ("vk-SECRET-1" in repr(ureq.headers)) is forwarded
        assert "adm-SECRET-4" not in repr(ureq.headers)


def test_an_mcp_server_gets_only_mcp_headers_and_its_own() -> None:
    server = McpServer("tools", {"authorization": "Bearer tools-own-token"})
    proxy = McpProxy(
        {"tools": server},
        StaticDirectory({}),
        FilterChain([]),
        BodyReader(1024, 1.0, 1024),
        lambda _r: _ctx({}),
        listener="agents",
    )
    headers = {**SECRETS, "mcp-session-id": "s1", "x-team": "blue"}
    out = proxy._headers(_ctx(headers), server, headers)
    assert "SECRET" not in repr(out), out
    assert out["authorization"] == "Bearer tools-own-token"
    assert out["mcp-session-id"] == "s1"


def test_an_mcp_server_with_forward_auth_gets_the_client_credentials_not_the_admin_key() -> None:
    server = McpServer("tools", {}, forward_auth=True)
    proxy = McpProxy(
        {"tools": server},
        StaticDirectory({}),
        FilterChain([]),
        BodyReader(1024, 1.0, 1024),
        lambda _r: _ctx({}),
        listener="agents",
    )
    out = proxy._headers(_ctx(SECRETS), server, SECRETS)
    assert out["authorization"] == "Bearer vk-SECRET-1"
    assert "x-plano-admin-key" not in out
