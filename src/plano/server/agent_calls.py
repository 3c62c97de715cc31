"""Calling one agent: the IO of an agent hop.

An agent is called like a provider of the API it speaks (``agents[].api``, OpenAI chat by
default): a :class:`~plano.providers.deployment.Deployment` at the agent's URL, built by that
family's codec from the canonical request (so an Anthropic or Responses client reaches a chat
completions agent, and the answer comes back in the client's shape), sent through the pooled
transport. Unlike Plano, the URL's own path is honoured, and the agent's error status is
passed on. Healthy endpoints come from the :class:`~plano.agents.directory.AgentDirectory`,
preferred first; a retryable failure before the first byte tries the next one.

Two ways to call: :meth:`AgentCaller.collect` (the whole answer, for earlier agents of a
sequence and parallel runs; the agent may stream or not) and :meth:`AgentCaller.relay` (the
answer streamed or passed to the client as it comes, for the last agent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from plano.agents.directory import AgentDirectory, ReportsFailures
from plano.core.assemble import StreamAssembler
from plano.core.credentials import ADMIN_KEY_HEADER, CREDENTIAL_HEADERS
from plano.core.model import ChatRequest, ChatResponse, StreamEvent, TextDelta
from plano.core.sse import SSEEvent, SSEParser
from plano.errors import (
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter, FilterChain
from plano.providers.codec import Codec, UpstreamRequest
from plano.providers.deployment import Deployment
from plano.providers.registry import CODECS
from plano.providers.table import ProviderSpec
from plano.providers.transport import UpstreamPool, map_client_error
from plano.server.relay import Exchange, StreamLimits, call_once, relay_stream
from plano.wire.shapes import SHAPES

__all__ = ["AgentCaller", "AnswerCapture", "agent_url", "hop_headers"]

#: The API an agent speaks -> the upstream family that speaks it, and its endpoint path.
AGENT_APIS: Mapping[str, tuple[str, str]] = {
    "openai_chat": ("openai", "/v1/chat/completions"),
    "anthropic_messages": ("anthropic", "/v1/messages"),
    "openai_responses": ("openai_responses", "/v1/responses"),
}
_ENDPOINT_TAILS = ("/chat/completions", "/messages", "/responses")
#: Client headers never passed to agents: the body's own framing, hop-by-hop headers, and the
#: ones Plano sets itself. The client's credentials (``CREDENTIAL_HEADERS``, the one list) go
#: only to agents with ``forward_auth: true``; the admin key never (an agent is another origin).
_DROP = frozenset(
    {
        "content-length",
        "host",
        "connection",
        "transfer-encoding",
        "keep-alive",
        "accept-encoding",
        "traceparent",
        "tracestate",
        "x-request-id",
        ADMIN_KEY_HEADER,
    }
)
_DROP_CREDENTIALS = _DROP | CREDENTIAL_HEADERS

T = TypeVar("T")


def agent_url(base: str, api: str) -> str:
    """The URL an agent's turns go to: its URL as written when that names an endpoint
    (``.../chat/completions``), else the API's path under it (kept: ``http://h/agents/a`` ->
    ``http://h/agents/a/v1/chat/completions``; a base ending in ``/v1`` keeps it)."""
    base = base.rstrip("/")
    path = urlsplit(base).path
    if path.endswith(_ENDPOINT_TAILS):
        return base
    tail = AGENT_APIS[api][1]
    if path.endswith("/v1"):
        return base + tail[len("/v1") :]
    return base + tail


def hop_headers(
    ctx: RequestContext,
    agent_id: str,
    listener: str,
    client: Mapping[str, str],
    *,
    forward_auth: bool = False,
) -> dict[str, str]:
    """Headers to an agent, as Plano sends them: the client's (minus framing and, unless
    ``forward_auth``, credentials), a ``traceparent`` continuing the trace, ``x-request-id``,
    ``x-arch-upstream`` and ``x-arch-agent-listener-name``; and ours: the session id."""
    drop = _DROP if forward_auth else _DROP_CREDENTIALS
    out = {k: v for k, v in client.items() if k.lower() not in drop}
    out["traceparent"] = ctx.trace.traceparent()
    if ctx.trace.state:
        out["tracestate"] = ctx.trace.state
    root = ctx
    while root.parent is not None:  # the client's request id, as Plano passes it on
        root = root.parent
    out["x-request-id"] = root.forward_id
    out["x-arch-upstream"] = agent_id
    out["x-arch-agent-listener-name"] = listener
    if ctx.session_id:
        out["x-plano-session-id"] = ctx.session_id
    return out


class AnswerCapture(Filter):
    """Keeps the text of the answer relayed to the client (what the session stores)."""

    name = "agent_answer"

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        if resp.choices:
            ctx.state[self.name] = [resp.choices[0].message.text()]

    def on_stream_seen(self, ctx: RequestContext, ev: StreamEvent) -> None:
        if isinstance(ev, TextDelta) and ev.index == 0:
            ctx.state.setdefault(self.name, []).append(ev.text)

    @classmethod
    def text(cls, ctx: RequestContext) -> str:
        return "".join(ctx.state.get(cls.name, ()))


class AgentCaller:
    """Calls agents for one runtime snapshot: ``apis`` (agent id -> the API it speaks),
    ``timeouts`` (agent id -> seconds, ``None``: the listener's limit only; agents not listed,
    called by RPC, get ``default_timeout``)."""

    def __init__(
        self,
        pool: UpstreamPool,
        directory: AgentDirectory,
        apis: Mapping[str, str],
        *,
        timeouts: Mapping[str, float | None] | None = None,
        default_timeout: float | None = None,
        listener: str = "agents",
        stream_limits: StreamLimits | None = None,
        headers: Mapping[str, Mapping[str, str]] | None = None,
        forward_auth: frozenset[str] = frozenset(),
    ) -> None:
        self.pool = pool
        self.directory = directory
        self.apis = apis
        #: Agent id -> the headers it gets with every call (its own credentials).
        self.headers = headers or {}
        #: Agent ids that get the client's credentials (``agents[].forward_auth``).
        self.forward_auth = forward_auth
        self.timeouts = timeouts or {}
        self.default_timeout = default_timeout
        self.listener = listener
        self.stream_limits = stream_limits or StreamLimits()
        self._capture = FilterChain([AnswerCapture()])

    # ---------------------------------------------------------------- building

    def deployment(self, agent_id: str, base: str, model: str) -> Deployment:
        api = self.apis.get(agent_id, "openai_chat")
        family = AGENT_APIS[api][0]
        spec = ProviderSpec(agent_id, family, base, auth="none")  # type: ignore[arg-type]
        return Deployment(agent_id, agent_id, model or agent_id, spec, base, label=agent_id)

    def build(
        self, ctx: RequestContext, dep: Deployment, req: ChatRequest
    ) -> tuple[Codec, UpstreamRequest]:
        codec = CODECS[dep.family]
        agent = dep.provider
        ureq = codec.build(dep, req, {})
        url = agent_url(dep.base_url, self.apis.get(agent, "openai_chat"))
        headers = {
            **ureq.headers,
            **hop_headers(
                ctx, agent, self.listener, ctx.headers, forward_auth=agent in self.forward_auth
            ),
        }
        headers.update(self.headers.get(agent, {}))
        return codec, dataclasses.replace(ureq, url=url, headers=headers)

    def endpoints(self, agent_id: str) -> Sequence[str]:
        found = self.directory.endpoints(agent_id)
        if not found:
            state = self.directory.state(agent_id)
            raise UpstreamConnectError(
                f"The agent '{agent_id}' has no endpoint that can answer (state: {state})."
            )
        return found

    async def _each_endpoint(
        self,
        ctx: RequestContext,
        agent_id: str,
        call: Callable[[Deployment], Awaitable[T]],
    ) -> T:
        """``call`` on the agent's endpoints in order until one answers; a retryable failure
        before anything reached the client moves on; the agent's time limit bounds it all."""
        limit = self.timeouts.get(agent_id, self.default_timeout)
        last: PlanoError | None = None
        try:
            async with asyncio.timeout(limit):
                for base in self.endpoints(agent_id):
                    dep = self.deployment(agent_id, base, ctx.model_requested)
                    ctx.deployment = dep
                    try:
                        return await call(dep)
                    except PlanoError as err:
                        last = err
                        if isinstance(err, UpstreamConnectError):
                            self.report_failure(base, err.message)
                        if ctx.committed or not _retryable(err):
                            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"The agent '{agent_id}' did not answer within its time limit ({limit:g}s)."
            ) from exc
        assert last is not None
        raise last

    def report_failure(self, base: str, error: str) -> None:
        """A replica that could not be reached leaves the rotation at once (the managed
        directory; static URLs have nothing to skip to)."""
        if isinstance(self.directory, ReportsFailures):
            self.directory.report_failure(base, error)

    # ---------------------------------------------------------------- calls

    async def collect(self, ctx: RequestContext, agent_id: str, req: ChatRequest) -> ChatResponse:
        """The agent's whole answer (it may stream or not)."""
        ctx.agent_id = agent_id
        ctx.request = req

        async def call(dep: Deployment) -> ChatResponse:
            codec, ureq = self.build(ctx, dep, req)
            ctx.upstream_start_ns = time.perf_counter_ns()
            try:
                async with self.pool.open(ureq, agent_id) as resp:
                    ctx.upstream_headers_ns = time.perf_counter_ns()
                    if resp.status >= 400:
                        raise await self.pool.read_error(codec, resp, agent_id)
                    if resp.content_type == "text/event-stream":
                        answer = await _assemble(codec, resp, agent_id)
                    else:
                        answer = _decode(codec, await self.pool.read(resp, agent_id), agent_id)
            except (aiohttp.ClientError, ConnectionResetError) as exc:
                raise map_client_error(exc, agent_id) from exc
            ctx.upstream_end_ns = time.perf_counter_ns()
            ctx.usage = answer.usage
            return answer

        return await self._each_endpoint(ctx, agent_id, call)

    async def relay(
        self,
        ctx: RequestContext,
        ex: Exchange,
        agent_id: str,
        req: ChatRequest,
    ) -> web.StreamResponse:
        """The agent's answer to the client as it comes, in the client's shape. Failures
        before the first byte raise; after it, the stream ends with an in-band error."""
        ctx.agent_id = agent_id
        ctx.request = req
        shape = SHAPES[ctx.shape]

        async def call(dep: Deployment) -> web.StreamResponse:
            codec, ureq = self.build(ctx, dep, req)
            if req.stream:
                return await relay_stream(
                    ctx, ex, self.pool, codec, ureq, shape, self._capture, self.stream_limits
                )
            return await call_once(ctx, self.pool, codec, ureq, shape, self._capture)

        return await self._each_endpoint(ctx, agent_id, call)


def _retryable(err: PlanoError) -> bool:
    if isinstance(err, UpstreamStatusError):
        return err.is_retryable
    return isinstance(err, UpstreamConnectError)


def _decode(codec: Codec, body: bytes, agent_id: str) -> ChatResponse:
    try:
        answer = codec.decode_response(orjson.loads(body))
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UpstreamProtocolError(f"The agent '{agent_id}' answered with invalid JSON.") from exc
    if not answer.choices:
        raise UpstreamProtocolError(f"The agent '{agent_id}' answered with no message.")
    return answer


async def _assemble(codec: Codec, resp: aiohttp.ClientResponse, agent_id: str) -> ChatResponse:
    parser = SSEParser()
    decoder = codec.stream_decoder()
    whole = StreamAssembler()

    def feed(sses: list[SSEEvent]) -> None:
        for sse in sses:
            try:
                events = decoder.feed(sse.data, sse.event)
            except PlanoError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                raise UpstreamProtocolError(
                    f"The agent '{agent_id}' sent a malformed stream chunk."
                ) from exc
            for ev in events:
                whole.feed(ev)

    async for chunk in resp.content.iter_any():
        feed(parser.feed(chunk))
        if decoder.final:
            break
    feed(parser.flush())
    if whole.failed:
        raise UpstreamProtocolError(f"The agent '{agent_id}' reported an error mid-stream.")
    if not decoder.done:
        raise UpstreamProtocolError(
            f"The agent '{agent_id}' ended its stream before it was complete."
        )
    return whole.response()
