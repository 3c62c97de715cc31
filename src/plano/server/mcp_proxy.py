"""MCP tool servers called through the plane: ``/mcp/{id}`` on the agent listener.

A client (an agent, or any MCP client) points at ``http://<agent listener>/mcp/<id>`` as it
would at the server itself. Each JSON-RPC message it POSTs is passed on to the server
declared as ``agents: [{id, url, type: mcp}]``, after::

    on_headers   the listener's chain (auth: 401 before the body)
    parse        one JSON-RPC message (batches refused)
    hop          a child context (hop ``tool``, same trace, new span, agent_id = the server):
                 the key's ``agents`` globs; tools/call: the policy filter (tool rules, Rego)
                 with the tool offered (``input.tools``) and called (``input.tool_calls``,
                 response phase); a strip is a deny: a call cannot be half made;
                 tools/list: tool rules and the ``request`` phase on the listed tools,
                 which are left out of the answer
    admit        tools/call: the rate limits count it as one request of the key; a key's
                 spent budget refuses it
    forward      the message, the client's ``mcp-*`` headers (its session goes on being its
                 own: the plane opens none), the entry's ``headers`` (the server's own
                 credentials, never the client's Plano key), ``traceparent`` of the hop's
                 span, ``x-request-id``; pooled connections (one aiohttp session per
                 snapshot); a connection failure reported to the managed directory and the
                 next replica tried

A refusal or failure after the message was read is a JSON-RPC error for its id with HTTP
200 (what MCP clients expect: ``call_tool`` raises the error, the session goes on); before it
(401, a body that is not JSON-RPC), the HTTP status with a JSON-RPC error body. Decisions
reach the audit trail and the hop its trace through the client hop's ``on_complete``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import orjson
from aiohttp import web

from plano.agents.directory import AgentDirectory
from plano.agents.mcp import (
    McpMessage,
    keep_tools,
    mcp_url,
    parse_message,
    reply_messages,
    rpc_error,
    tool_call,
)
from plano.core.credentials import CREDENTIAL_HEADERS
from plano.core.model import ChatRequest, ChatResponse, Message, Tool, ToolCall
from plano.core.model import Choice as AnswerChoice
from plano.errors import (
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    detached,
)
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter, FilterChain
from plano.policy.filter import PolicyFilter
from plano.policy.tools import ToolRules, Who
from plano.providers.transport import map_client_error
from plano.server.body import BodyReader

__all__ = ["McpProxy", "McpServer", "mcp_servers"]

log = logging.getLogger("plano.agents")

#: Client headers passed on: MCP's own (session, protocol version, method, resumption).
_PASSED = ("accept", "content-type", "last-event-id")
_PASSED_PREFIX = "mcp-"
#: Reply headers passed back.
_BACK = ("content-type", "mcp-session-id")
#: Largest reply read from a tool server.
MAX_REPLY = 64 * 1024 * 1024
_SOURCE = "mcp"


@dataclass(frozen=True, slots=True)
class McpServer:
    """One declared MCP tool server: its id, the headers it gets (its credentials), and its
    time limit per message."""

    id: str
    headers: Mapping[str, str]
    timeout: float = 60.0
    #: ``agents[].forward_auth``: the client's credentials go too (never the admin key).
    forward_auth: bool = False


Context = Callable[[web.Request], RequestContext]


class McpProxy(Filter):
    """The ``/mcp/{id}`` routes of one agent listener snapshot. A filter only to be started
    and closed with the snapshot (its connection pool)."""

    name: ClassVar[str] = "mcp_proxy"

    def __init__(
        self,
        servers: Mapping[str, McpServer],
        directory: AgentDirectory,
        chain: FilterChain,
        body: BodyReader,
        context: Context,
        *,
        listener: str,
        request_timeout: float = 300.0,
        on_failure: Callable[[str, str], None] | None = None,
        admit: Callable[[RequestContext, str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.servers = servers
        self.directory = directory
        self.chain = chain
        self.body = body
        self.context = context
        self.listener = listener
        self.request_timeout = request_timeout
        self.on_failure = on_failure
        #: Rate limits and budgets: a tool call counts as one request of the key.
        self.admit = admit
        #: The chain's policy filter, run on its own on a tool hop (the chain's auth would
        #: check the server's id as a model name).
        self.policy = next((f for f in chain.filters if isinstance(f, PolicyFilter)), None)
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.servers and self._session is None:
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/mcp/{server_id}", self.post),
            web.delete("/mcp/{server_id}", self.delete),
            web.get("/mcp/{server_id}", self.get),
        ]

    # ------------------------------------------------------------------ handlers

    async def get(self, request: web.Request) -> web.Response:
        """No server-initiated stream through the plane (clients go on without it)."""
        err = MethodNotAllowed("The plane does not carry MCP's GET stream.", code="no_stream")
        return _rpc_response(rpc_error(None, err), 405, {"allow": "POST, DELETE"})

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """A client ending its session: passed on."""
        return await self._serve(request, delete=True)

    async def post(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, delete=False)

    async def _serve(self, request: web.Request, *, delete: bool) -> web.StreamResponse:
        ctx = self.context(request)
        ctx.shape = "mcp"  # no model API: its span is named by the path, its record is "mcp"
        server_id = request.match_info["server_id"]
        msg: McpMessage | None = None
        hop: RequestContext | None = None  # the tool hop, once the server is known
        try:
            async with asyncio.timeout(self.request_timeout):
                await self.chain.on_headers(ctx)
                server = self._server(server_id)
                ctx.agent_id, ctx.route = server.id, f"mcp:{server.id}"
                if delete:
                    hop = ctx.child("tool", ctx.request_id, agent_id=server.id)
                    _check_key(ctx, server)
                    return await self._pass(hop, server, request, b"", "DELETE")
                body = await self.body.read(request)
                msg = parse_message(body)
                ctx.route = f"mcp:{server.id}:{msg.method or 'response'}"
                hop = ctx.child("tool", ctx.request_id, agent_id=server.id)
                _check_key(ctx, server)
                return await self._message(hop, server, request, msg, body)
        except PlanoError as err:
            return self._fail(ctx, hop, msg, err)
        except TimeoutError:
            late = UpstreamTimeout("The MCP call exceeded the agent listener's time limit.")
            return self._fail(ctx, hop, msg, late)
        except Exception:
            log.exception("unexpected error in MCP call %s", ctx.request_id)
            bug = PlanoError(f"Internal gateway error (request id {ctx.request_id}).")
            return self._fail(ctx, hop, msg, bug)
        finally:
            ctx.end_ns = ctx.end_ns or time.perf_counter_ns()
            if hop is not None:
                hop.end_ns = hop.end_ns or ctx.end_ns
            self.chain.complete(ctx)

    def _server(self, server_id: str) -> McpServer:
        server = self.servers.get(server_id)
        if server is None:
            shown = server_id[:100]
            raise NotFound(f"Unknown MCP server '{shown}'.", code="unknown_mcp_server")
        return server

    async def _message(
        self,
        hop: RequestContext,
        server: McpServer,
        request: web.Request,
        msg: McpMessage,
        body: bytes,
    ) -> web.StreamResponse:
        if msg.method == "tools/call":
            await self._check_call(hop, server, msg)
            if self.admit is not None and hop.parent is not None:
                await self.admit(hop.parent, server.id, server.id)
        if msg.method != "tools/list" or not msg.is_request:
            return await self._pass(hop, server, request, body, "POST")
        reply = await self._send(hop, server, request, body, "POST")
        return await self._listed(hop, server, reply)

    # ------------------------------------------------------------------ policies

    async def _check_call(self, hop: RequestContext, server: McpServer, msg: McpMessage) -> None:
        """Tool rules and the ``response`` phase see the call as a model's tool call."""
        name, arguments = tool_call(msg)
        hop.request = ChatRequest(model=server.id, messages=[], tools=[Tool(name)])
        call = ToolCall(f"mcp_{hop.request_id}", name, orjson.dumps(arguments).decode())
        answer = ChatResponse(
            hop.request_id,
            server.id,
            [AnswerChoice(0, Message("assistant", tool_calls=[call]), "tool_calls")],
        )
        try:
            if self.policy is not None:
                await self.policy.on_request(hop)
                await self.policy.on_response(hop, answer)
        finally:
            _adopt_decisions(hop)
        offered = any(t.name == name for t in hop.request.tools)
        called = any(c.name == name for ch in answer.choices for c in ch.message.tool_calls)
        if not (offered and called):  # stripped either way: a call cannot be half made
            raise PermissionDenied(
                f"Denied by policy: the tool {name!r} may not be called.", code="policy_denied"
            )

    async def _listed(
        self, hop: RequestContext, server: McpServer, reply: _Reply
    ) -> web.StreamResponse:
        """A ``tools/list`` answer without the tools policies refuse (tool rules on
        offered tools, the ``request`` phase's ``strip_tools``)."""
        messages = reply_messages(reply.body, reply.headers.get("content-type", ""))
        answer = next((m for m in messages if "result" in m or "error" in m), None)
        result = answer.get("result") if answer is not None else None
        listed = result.get("tools") if isinstance(result, dict) else None
        if answer is None or reply.status >= 300 or not isinstance(listed, list):
            return _passed_back(reply)
        names = [
            t["name"] for t in listed if isinstance(t, dict) and isinstance(t.get("name"), str)
        ]
        names = self._unrefused(hop, names)
        hop.request = ChatRequest(model=server.id, messages=[], tools=[Tool(n) for n in names])
        try:
            if self.policy is not None:
                await self.policy.on_request(hop)
        finally:
            _adopt_decisions(hop)
        kept, dropped = keep_tools(answer, {t.name for t in hop.request.tools})
        if dropped:
            hop.response_headers["x-plano-policy"] = "strip_tools"
        headers = {k: v for k, v in reply.headers.items() if k == "mcp-session-id"}
        return _rpc_response(orjson.dumps(kept), 200, headers)

    def _unrefused(self, hop: RequestContext, names: list[str]) -> list[str]:
        """The listed tools no tool rule refuses: a listing leaves a refused tool out
        (``block`` too: it blocks calling the tool, not seeing the others)."""
        policy = self.policy
        if policy is None or not policy.tools.covers("offered"):
            return names
        rules = policy.tools.for_request(Who.of(hop), "offered")
        kept: list[str] = []
        for name in names:
            refusal = ToolRules.refusal(rules, name) if rules else None
            if refusal is None:
                kept.append(name)
                continue
            reason = f"tool {name!r} left out of the listing"
            hop.decisions.append(Decision("tool_rules", "strip", refusal.rule, reason))
        return kept

    # ------------------------------------------------------------------ the server

    async def _pass(
        self, hop: RequestContext, server: McpServer, request: web.Request, body: bytes, method: str
    ) -> web.StreamResponse:
        return _passed_back(await self._send(hop, server, request, body, method))

    async def _send(
        self, hop: RequestContext, server: McpServer, request: web.Request, body: bytes, method: str
    ) -> _Reply:
        """The message to the server's replicas in order until one is reached."""
        endpoints = self.directory.endpoints(server.id)
        if not endpoints:
            state = self.directory.state(server.id)
            raise UpstreamConnectError(
                f"The MCP server '{server.id}' has no endpoint that can answer (state: {state})."
            )
        headers = self._headers(hop, server, request.headers)
        last: PlanoError | None = None
        for base in endpoints:
            try:
                return await self._one(hop, server, mcp_url(base), method, body, headers)
            except UpstreamConnectError as err:
                last = err
                if self.on_failure is not None:
                    self.on_failure(base, err.message)
        assert last is not None
        raise last

    async def _one(
        self,
        hop: RequestContext,
        server: McpServer,
        url: str,
        method: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> _Reply:
        assert self._session is not None, "the proxy was not started"
        hop.upstream_start_ns = time.perf_counter_ns()
        try:
            async with asyncio.timeout(server.timeout):
                async with self._session.request(
                    method, url, data=body or None, headers=headers, allow_redirects=False
                ) as resp:
                    hop.upstream_headers_ns = time.perf_counter_ns()
                    data = await _read(resp, server.id)
                    hop.status = resp.status
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"The MCP server '{server.id}' did not answer within {server.timeout:g}s."
            ) from exc
        except (aiohttp.ClientError, ConnectionResetError) as exc:
            raise map_client_error(exc, server.id) from exc
        finally:
            hop.upstream_end_ns = time.perf_counter_ns()
        if resp.status >= 500:
            raise UpstreamStatusError(
                f"The MCP server '{server.id}' answered HTTP {resp.status}.", status=502
            )
        kept = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _BACK}
        return _Reply(resp.status, kept, data)

    def _headers(
        self, hop: RequestContext, server: McpServer, client: Mapping[str, str]
    ) -> dict[str, str]:
        out = {
            k.lower(): v
            for k, v in client.items()
            if k.lower() in _PASSED
            or k.lower().startswith(_PASSED_PREFIX)
            or (server.forward_auth and k.lower() in CREDENTIAL_HEADERS)
        }
        out.setdefault("accept", "application/json, text/event-stream")
        out.setdefault("content-type", "application/json")
        out.update(server.headers)
        out["traceparent"] = hop.trace.traceparent()
        if hop.trace.state:
            out["tracestate"] = hop.trace.state
        out["x-request-id"] = hop.forward_id
        out["x-arch-upstream"] = server.id
        out["x-arch-agent-listener-name"] = self.listener
        if hop.session_id:
            out["x-plano-session-id"] = hop.session_id
        return out

    # ------------------------------------------------------------------ errors

    def _fail(
        self,
        ctx: RequestContext,
        hop: RequestContext | None,
        msg: McpMessage | None,
        err: PlanoError,
    ) -> web.Response:
        ctx.status, ctx.error = err.status, detached(err)
        if hop is not None:
            hop.status, hop.error = err.status, ctx.error
        if err.status >= 500:
            log.warning("MCP call %s failed: %s %s", ctx.request_id, err.status, err.metric_label)
        if msg is not None and msg.is_request:
            ctx.status = 200  # answered: the error is the JSON-RPC answer
            return _rpc_response(rpc_error(msg.id, err), 200, {})
        return _rpc_response(rpc_error(None, err), err.status, {})


def _check_key(ctx: RequestContext, server: McpServer) -> None:
    """The key's ``agents`` globs name the MCP servers it may call."""
    key = ctx.principal.key
    if key is not None and key.agents and not _matches(key.agents, server.id):
        message = f"This API key may not call the MCP server '{server.id}'."
        ctx.decisions.append(Decision("auth", "deny", "agent_not_allowed", message))
        raise PermissionDenied(message, code="agent_not_allowed")


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


async def _read(resp: aiohttp.ClientResponse, server_id: str) -> bytes:
    if resp.content_length is not None and resp.content_length > MAX_REPLY:
        raise UpstreamProtocolError(f"The MCP server '{server_id}' answered more than 64 MiB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_REPLY:
            raise UpstreamProtocolError(f"The MCP server '{server_id}' answered more than 64 MiB.")
        chunks.append(chunk)
    return b"".join(chunks)


def _passed_back(reply: _Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))


def _rpc_response(body: bytes, status: int, headers: Mapping[str, str]) -> web.Response:
    return web.Response(
        status=status, body=body, headers={**headers, "content-type": "application/json"}
    )


def _matches(patterns: Sequence[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _adopt_decisions(hop: RequestContext) -> None:
    """The hop's decisions on the client hop (the audit trail reads those)."""
    if hop.parent is not None and hop.decisions:
        hop.parent.decisions.extend(hop.decisions)
        hop.decisions.clear()


def mcp_servers(agents: Sequence[Any], timeout: float) -> dict[str, McpServer]:
    """The config's ``type: mcp`` agents."""
    return {
        a.id: McpServer(a.id, dict(a.headers), timeout, getattr(a, "forward_auth", False))
        for a in agents
        if getattr(a, "type", "http") == "mcp"
    }
