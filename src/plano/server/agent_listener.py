"""The agent listener (``listeners[]`` with ``type: agent``): each turn goes to the agents the
orchestrator picks.

::

    on_headers   the listener's chain (auth: 401 before the body)
    parse        the client's shape (chat, Messages, Responses) -> canonical request
    session      the stored conversation in front of a new turn (sessions on)
    on_request   the listener's chain for the client hop (policies)
    choose       Orchestrator: rules -> chooser (LLM, or embeddings when it cannot answer)
                 -> default agent; ``x-plano-agent`` or ``/agents/v1/{id}/...`` name one (RPC)
    each hop     a child context (same trace, new span, agent_id): the chain's on_request
                 again (auth's agent check, policies on ``agent``), the agent's input_filters
    run          sequence: earlier answers inserted as named assistant messages, the last
                 agent relayed; parallel: all at once, answers merged (concat or summarizer)
    respond      the client's shape; the agent's error status passed on; x-plano-agents
    remember     the turn and its answer stored under the session id
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from plano.agents.choosers import Choice, Orchestrator, Turn
from plano.agents.conversation import (
    concat_answers,
    summary_messages,
    with_earlier_answers,
    with_history,
)
from plano.agents.sessions import SessionStore, derive_session_id, usable_session_id
from plano.core.model import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
)
from plano.core.model import (
    Choice as AnswerChoice,
)
from plano.core.trace import TraceContext
from plano.errors import NotFound, PlanoError, UpstreamTimeout, detached
from plano.pipeline.context import RequestContext, usable_id
from plano.pipeline.filters import Filter, FilterChain
from plano.providers.codec import UpstreamRequest
from plano.server.agent_budgets import TurnBudgets
from plano.server.agent_calls import AgentCaller, AnswerCapture
from plano.server.body import BodyReader, parse_body
from plano.server.mcp_proxy import McpProxy, McpServer
from plano.server.relay import Exchange, answer_headers, fail_stream
from plano.wire.shapes import ROUTES, SHAPES, ClientShape, shape_for_path

__all__ = ["AgentListener", "AgentTurnSettings"]

log = logging.getLogger("plano.agents")

Complete = Callable[[str, list[Message]], Awaitable[str]]
#: The header naming one agent to call directly (RPC through the plane, header form).
AGENT_HEADER = "x-plano-agent"
_RPC_PREFIX = "/agents/v1/"


@dataclass(frozen=True, slots=True)
class AgentTurnSettings:
    listener: str
    request_timeout: float = 300.0
    mode: str = "sequence"
    merge: str = "concat"
    summarizer_model: str | None = None
    fallback_agent: str | None = None
    session_header: str = "x-plano-session-id"
    #: Agents RPC may call (every declared agent).
    known_agents: frozenset[str] = frozenset()
    #: Agent id -> its input_filters chain.
    agent_chains: Mapping[str, FilterChain] = field(default_factory=dict)


class AgentListener:
    """One agent listener of one runtime snapshot (the ``Listener`` protocol)."""

    def __init__(
        self,
        spec: Any,
        chain: FilterChain,
        settings: AgentTurnSettings,
        orchestrator: Orchestrator,
        caller: AgentCaller,
        body: BodyReader,
        *,
        sessions: SessionStore | None = None,
        complete: Complete | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
        limits: Sequence[Filter] = (),
        budgets: TurnBudgets | None = None,
    ) -> None:
        self._spec = spec
        self._chain = chain
        self.settings = settings
        self.orchestrator = orchestrator
        self.caller = caller
        self.body = body
        self.sessions = sessions
        #: The gateway's own model call (the summarizer).
        self.complete = complete
        self._id_prefix = "req_" + os.urandom(8).hex()
        self._ids = itertools.count(1)
        #: Rate limits counting each turn once (by its first agent): a budget reserves
        #: nothing here, the agents' own model calls are what costs.
        self.limits = tuple(limits)
        #: The key's spent budgets refuse the turn (nothing is reserved for it).
        self.budgets = budgets
        #: ``/mcp/{id}``: the MCP tool servers (``agents[]`` with ``type: mcp``).
        self.mcp = McpProxy(
            mcp_servers or {},
            caller.directory,
            chain,
            body,
            lambda request: self.context(request, SHAPES["openai_chat"]),
            listener=settings.listener,
            request_timeout=settings.request_timeout,
            on_failure=caller.report_failure,
            admit=self.admit,
        )

    @property
    def spec(self) -> Any:
        return self._spec

    @property
    def chain(self) -> FilterChain:
        return self._chain

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):08x}"

    # ------------------------------------------------------------------ routes

    def routes(self) -> list[web.RouteDef]:
        defs = [web.post(path, self._endpoint(SHAPES[shape])) for path, shape in ROUTES]
        defs += self.mcp.routes()
        defs.append(web.post(_RPC_PREFIX + "{agent_id}/{tail:.*}", self.rpc))
        defs.append(web.get("/v1/models", self.models))
        defs.append(web.get("/healthz", self.healthz))
        defs.append(web.route("*", "/{tail:.*}", self.not_found))
        return defs

    def _endpoint(
        self, shape: ClientShape
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            forced = request.headers.get(AGENT_HEADER)
            return await self.handle(request, shape, forced.strip() if forced else None)

        return handler

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        """``POST /agents/v1/{agent_id}/<API path>``: one agent, by id, through the plane."""
        shape = shape_for_path("/" + request.match_info["tail"])
        return await self.handle(request, shape, request.match_info["agent_id"])

    async def models(self, _request: web.Request) -> web.Response:
        data = [
            {"id": a.id, "object": "model", "owned_by": "agent", "description": a.description}
            for a in self.orchestrator.agents
        ]
        return web.json_response({"object": "list", "data": data}, dumps=_dumps)

    async def healthz(self, _request: web.Request) -> web.Response:
        states = {a.id: self.caller.directory.state(a.id) for a in self.orchestrator.agents}
        return web.json_response({"status": "ok", "agents": states}, dumps=_dumps)

    async def not_found(self, request: web.Request) -> web.Response:
        shape = shape_for_path(request.path)
        path = request.path if len(request.path) <= 200 else request.path[:200] + "..."
        err = NotFound(f"Unknown path {path}.", code="unknown_url")
        return web.json_response(shape.error_body(err), status=404, dumps=_dumps)

    # ------------------------------------------------------------------ a turn

    def context(self, request: web.Request, shape: ClientShape) -> RequestContext:
        headers = request.headers
        return RequestContext(
            request_id=self.new_id(),  # ours, always unique: usage and audit key on it
            client_request_id=usable_id(headers.get("x-request-id")),
            shape=shape.name,
            headers=headers,  # type: ignore[arg-type]
            trace=TraceContext.start(headers.get("traceparent"), headers.get("tracestate")),
            listener=self.settings.listener,
            session_id=usable_session_id(headers.get(self.settings.session_header)),
        )

    async def handle(
        self, request: web.Request, shape: ClientShape, forced: str | None = None
    ) -> web.StreamResponse:
        ctx = self.context(request, shape)
        ex = Exchange(request)
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                await self._chain.on_headers(ctx)
                req = await parse_body(shape, await self.body.read(request))
                ctx.request = req
                rpc = forced is not None
                if not rpc:
                    await self._recall(ctx, req)
                await self._chain.on_request(ctx)
                choice = self._forced(forced) if rpc else await self._choose(ctx, req)
                ctx.route = ",".join(choice.agents)
                await self._admit(ctx, choice, req)
                ctx.response_headers["x-plano-agents"] = ctx.route
                ctx.response_headers["x-plano-chooser"] = choice.by
                if ctx.session_id:
                    ctx.response_headers["x-plano-session-id"] = ctx.session_id
                response, text = await self._run(ex, ctx, choice, req)
                if not rpc and text:
                    await self._remember(ctx, req, choice, text)
                return response
        except PlanoError as err:
            return await self._fail(ex, ctx, shape, err)
        except TimeoutError:
            limit = UpstreamTimeout("The turn exceeded the agent listener's time limit.")
            return await self._fail(ex, ctx, shape, limit)
        except asyncio.CancelledError:
            if not ctx.answered:
                ctx.client_closed, ctx.status = True, 499
            raise
        except Exception:
            log.exception("unexpected error in agent turn %s", ctx.request_id)
            bug = PlanoError(f"Internal gateway error (request id {ctx.request_id}).")
            return await self._fail(ex, ctx, shape, bug)
        finally:
            ctx.end_ns = ctx.end_ns or time.perf_counter_ns()
            self._chain.complete(ctx)

    async def _admit(self, ctx: RequestContext, choice: Choice, req: ChatRequest) -> None:
        await self.admit(ctx, choice.agents[0], req.model)

    async def admit(self, ctx: RequestContext, agent: str, model: str) -> None:
        """A turn (or an MCP tool call) against the rate limits, once (``agent`` scope: its
        first agent), and the key's budgets."""
        ctx.agent_id = agent
        if self.budgets is not None:
            await self.budgets.check(ctx)
        if not self.limits:
            return
        dep = self.caller.deployment(agent, "", model)
        nothing = UpstreamRequest("", {}, b"")
        for f in self.limits:
            await f.on_upstream_request(ctx, dep, nothing)

    def _forced(self, agent: str | None) -> Choice:
        if agent not in self.settings.known_agents:
            shown = (agent or "")[:100]
            raise NotFound(f"Unknown agent '{shown}'.", code="unknown_agent")
        return Choice((agent,), "rpc")

    async def _choose(self, ctx: RequestContext, req: ChatRequest) -> Choice:
        turn = Turn(req.messages, ctx.headers, req.metadata)
        choice = await self.orchestrator.choose(turn)
        if not choice.agents:
            raise NotFound("This agent listener has no agents.", code="no_agents")
        if choice.unknown:
            log.info(
                "turn %s: the orchestrator named unknown agents %s; using %s",
                ctx.request_id,
                list(choice.unknown),
                list(choice.agents),
            )
        return choice

    # ------------------------------------------------------------------ sessions

    async def _recall(self, ctx: RequestContext, req: ChatRequest) -> None:
        if self.sessions is None:
            return
        if ctx.session_id is None:
            # Derived ids only name what is stored: two callers may open with the same words,
            # so history is recalled only for an id the client sent (the one answered here).
            ctx.session_id = derive_session_id(ctx.principal.id, req.messages)
            return
        try:
            async with asyncio.timeout(0.5):
                history = await self.sessions.load(_scoped(ctx))
        except (PlanoError, TimeoutError, OSError) as exc:
            log.warning(
                "session %s could not be read (%s); the turn goes on without it",
                ctx.session_id,
                type(exc).__name__,
            )
            return
        merged = with_history(history, req.messages)
        if len(merged) != len(req.messages):
            req.messages = merged
            req.changed()

    async def _remember(
        self, ctx: RequestContext, req: ChatRequest, choice: Choice, text: str
    ) -> None:
        if self.sessions is None or ctx.session_id is None:
            return
        name = choice.agents[0] if len(choice.agents) == 1 else None
        turn = [*req.messages, Message("assistant", [TextPart(text)], name=name)]
        try:
            async with asyncio.timeout(0.5):
                await self.sessions.save(_scoped(ctx), turn)
        except (PlanoError, TimeoutError, OSError) as exc:
            log.warning("session %s could not be saved (%s)", ctx.session_id, type(exc).__name__)

    # ------------------------------------------------------------------ running agents

    async def _hop(self, ctx: RequestContext, agent: str, req: ChatRequest) -> RequestContext:
        """The agent hop's context, through the listener's chain (auth's agent check,
        policies seeing ``agent``) and the agent's input_filters."""
        # The client's request id on every hop (Plano passes it on); the span tells hops apart.
        child = ctx.child("agent", ctx.request_id, request=req, agent_id=agent)
        child.committed = False
        await self._chain.on_request(child)
        filters = self.settings.agent_chains.get(agent)
        if filters is not None:
            await filters.on_request(child)
        return child

    async def _run(
        self, ex: Exchange, ctx: RequestContext, choice: Choice, req: ChatRequest
    ) -> tuple[web.StreamResponse, str]:
        agents = choice.agents
        if self.settings.mode == "parallel" and len(agents) > 1:
            return await self._parallel(ex, ctx, agents, req)
        answers: list[tuple[str, str]] = []
        for agent in agents[:-1]:
            step = _with_messages(req, with_earlier_answers(req.messages, answers), stream=False)
            answered, answer = await self._collect(ctx, agent, step)
            answers.append((answered, _text(answer)))
        last = _with_messages(req, with_earlier_answers(req.messages, answers), stream=req.stream)
        return await self._relay(ex, ctx, agents[-1], last)

    async def _collect(
        self, ctx: RequestContext, agent: str, req: ChatRequest
    ) -> tuple[str, ChatResponse]:
        """The whole answer of ``agent`` (or of the fallback agent), with who gave it."""
        child = await self._hop(ctx, agent, req)
        try:
            return agent, await self.caller.collect(child, agent, child.request or req)
        except PlanoError as err:
            fallback = self._fallback_for(agent, err)
            if fallback is None:
                raise
            child = await self._hop(ctx, fallback, req)
            return fallback, await self.caller.collect(child, fallback, child.request or req)

    async def _relay(
        self, ex: Exchange, ctx: RequestContext, agent: str, req: ChatRequest
    ) -> tuple[web.StreamResponse, str]:
        child = await self._hop(ctx, agent, req)
        child.response_headers.update(ctx.response_headers)
        try:
            response = await self.caller.relay(child, ex, agent, child.request or req)
        except PlanoError as err:
            fallback = self._fallback_for(agent, err) if not child.committed else None
            if fallback is None:
                _adopt(ctx, child)
                raise
            child = await self._hop(ctx, fallback, req)
            child.response_headers.update(ctx.response_headers)
            child.response_headers["x-plano-fallback-agent"] = fallback
            response = await self.caller.relay(child, ex, fallback, child.request or req)
        _adopt(ctx, child)
        return response, AnswerCapture.text(child)

    def _fallback_for(self, agent: str, err: PlanoError) -> str | None:
        fallback = self.settings.fallback_agent
        if fallback is None or fallback == agent or err.status < 500:
            return None
        log.warning(
            "agent %s failed (%s %s); the fallback agent %s answers",
            agent,
            err.status,
            err.metric_label,
            fallback,
        )
        return fallback

    async def _parallel(
        self, ex: Exchange, ctx: RequestContext, agents: Sequence[str], req: ChatRequest
    ) -> tuple[web.StreamResponse, str]:
        step = _with_messages(req, list(req.messages), stream=False)
        results = await asyncio.gather(
            *(self._collect(ctx, a, step) for a in agents), return_exceptions=True
        )
        answers: list[tuple[str, str]] = []
        failed: list[tuple[str, PlanoError]] = []
        for agent, result in zip(agents, results, strict=True):
            if isinstance(result, PlanoError):
                failed.append((agent, result))
            elif isinstance(result, BaseException):
                raise result
            else:
                answers.append((result[0], _text(result[1])))
        if not answers:
            raise failed[0][1]
        for agent, err in failed:  # said in the answer: never a silently partial merge
            answers.append((agent, f"(the agent failed: {err.message})"))
            ctx.response_headers["x-plano-failed-agents"] = ",".join(a for a, _ in failed)
        text = await self._merge(req, answers)
        return await self._answer(ex, ctx, req, text), text

    async def _merge(self, req: ChatRequest, answers: list[tuple[str, str]]) -> str:
        model = self.settings.summarizer_model
        if self.settings.merge != "summarize" or model is None or self.complete is None:
            return concat_answers(answers)
        try:
            return await self.complete(model, summary_messages(req.messages, answers))
        except PlanoError as err:
            log.warning("the summarizer %s failed (%s); answers concatenated", model, err.status)
            return concat_answers(answers)

    async def _answer(
        self, ex: Exchange, ctx: RequestContext, req: ChatRequest, text: str
    ) -> web.StreamResponse:
        """A merged answer in the client's shape, as one body or as a stream."""
        shape = SHAPES[ctx.shape]
        model = req.model or "agents"
        answer = ChatResponse(
            "agents-" + ctx.request_id,
            model,
            [AnswerChoice(0, Message("assistant", [TextPart(text)]), "stop")],
            created=int(time.time()),
        )
        headers = answer_headers(ctx)
        if not req.stream:
            ctx.answered = True
            return web.Response(
                body=orjson.dumps(shape.render_response(answer)),
                headers={**headers, "content-type": "application/json"},
            )
        renderer = shape.stream_renderer(model, req)
        out = web.StreamResponse(
            headers={
                **headers,
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await out.prepare(ex.request)
        ex.response, ex.renderer = out, renderer
        events: list[StreamEvent] = [
            StreamStart(answer.id, model),
            TextDelta(text),
            StreamEnd("stop"),
        ]
        await out.write(b"".join(renderer.render(e) for e in events) + renderer.done())
        ctx.answered = True
        return out

    # ------------------------------------------------------------------ errors

    async def _fail(
        self, ex: Exchange, ctx: RequestContext, shape: ClientShape, err: PlanoError
    ) -> web.StreamResponse:
        ctx.status, ctx.error = err.status, detached(err)
        if ex.response is not None:
            await fail_stream(ctx, ex.response, shape, err, ex.renderer)
            return ex.response
        headers = answer_headers(ctx)
        if err.retry_after is not None:  # as the model listener says it (rate limits)
            headers["retry-after"] = str(max(int(err.retry_after + 0.999), 0))
        if err.status >= 500:
            log.warning("agent turn %s failed: %s %s", ctx.request_id, err.status, err.metric_label)
        return web.json_response(
            shape.error_body(err), status=err.status, headers=headers, dumps=_dumps
        )


def _scoped(ctx: RequestContext) -> str:
    """Sessions are per caller: one principal cannot read another's by guessing its id."""
    assert ctx.session_id is not None
    owner = ctx.principal.id
    return ctx.session_id if owner == "anonymous" else f"{owner}:{ctx.session_id}"


def _adopt(ctx: RequestContext, child: RequestContext) -> None:
    """What the client hop reports from the hop that answered it."""
    ctx.deployment = child.deployment
    ctx.agent_id = child.agent_id  # the agent that answered (the usage log's attribution)
    ctx.committed = child.committed
    ctx.answered = child.answered
    ctx.status = child.status
    ctx.usage = child.usage
    ctx.decisions.extend(child.decisions)


def _with_messages(req: ChatRequest, messages: list[Message], *, stream: bool) -> ChatRequest:
    import dataclasses

    out = dataclasses.replace(req, messages=messages, stream=stream)
    if messages != req.messages or stream != req.stream:
        out.changed()
    return out


def _text(answer: ChatResponse) -> str:
    return answer.choices[0].message.text() if answer.choices else ""


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
