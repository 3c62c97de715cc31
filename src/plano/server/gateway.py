"""The model listener: the request path as explicit stages.

::

    on_headers   filters that need only the head (auth: 401 before a byte of body is read)
    admit        in-flight cap (503), body size (413)
    parse        JSON (400) -> client shape -> canonical request (400 on wrong types)
    on_request   input filters (auth, policy, budgets... as they land)
    resolve      model name -> deployment (404 with close names)
    call         codec.build -> transport -> relay (stream) or call_once (non-stream)
    respond      client-shaped answer or error, with request id / provider / model headers
    complete     on_complete filters (accounting first), off the request's task
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web

from plano.core.model import ChatRequest, text_size
from plano.core.trace import TraceContext
from plano.errors import (
    ClientClosed,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PlanoError,
    RequestTimeout,
    UpstreamTimeout,
    detached,
)
from plano.pipeline.context import RequestContext, usable_id
from plano.pipeline.filters import FilterChain
from plano.providers.deployment import Deployment
from plano.providers.registry import CODECS
from plano.providers.transport import UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.routing.fallback import call_with_fallback
from plano.routing.router import Plan, Router, StaticRouter
from plano.server.body import BIG_BODY, BodyReader, parse_body
from plano.server.relay import (
    Exchange,
    StreamLimits,
    answer_headers,
    call_once,
    fail_stream,
    relay_stream,
)
from plano.server.routing_api import decision_routes
from plano.wire import capabilities
from plano.wire.shapes import ROUTES, SHAPES, ClientShape, shape_for_path

__all__ = ["Gateway", "GatewaySettings", "Lifecycle"]

log = logging.getLogger("plano.gateway")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    max_body: int = 10 * 1024 * 1024
    max_in_flight: int = 2048
    #: First-token and idle limits of streams (``fallback.*_timeout``).
    stream_limits: StreamLimits = field(default_factory=StreamLimits)
    #: The listener's ``timeout``: the whole request, stream included.
    request_timeout: float = 300.0
    #: Reading the request body (a client that stalls mid-body).
    body_timeout: float = 60.0
    #: Bytes all bodies being received may hold at once.
    body_budget: int = 512 * 1024 * 1024
    #: The listener's name (``listeners[].name``), carried in every request's context.
    listener: str = "llm"


#: The outcome observers get for an attempt that ended without an answer or an error: the
#: client left (its task was cancelled).
_CANCELLED = ClientClosed("The client closed the request.", code="client_closed")


class Lifecycle(Protocol):
    """What a standalone :meth:`Gateway.app` starts and closes with the application."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        catalog: ModelCatalog,
        pool: UpstreamPool,
        chain: FilterChain,
        extra_routes: list[web.RouteDef] | None = None,
        router: Router | None = None,
        *,
        started: float | None = None,
        lifecycle: Lifecycle | None = None,
        own_auth: list[web.RouteDef] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.router: Router = router or StaticRouter(catalog)
        self.pool = pool
        self.chain = chain
        self.in_flight = 0
        self.body = BodyReader(settings.max_body, settings.body_timeout, settings.body_budget)
        #: When the gateway started serving (kept across config reloads).
        self.started = started if started is not None else time.time()
        #: What :meth:`app`'s start-up and clean-up start and close; by default the chain and
        #: the pool (a runtime snapshot owns more: its ledger and store).
        self.lifecycle = lifecycle
        # Built per worker process (after fork): a random prefix and a counter are unique
        # across workers and cost far less than os.urandom per request.
        self._id_prefix = "req_" + os.urandom(8).hex()
        self._ids = itertools.count(1)
        self._extra_routes = extra_routes or []
        #: Routes that authenticate callers by their own rules (pub/sub topics: agent tokens,
        #: the admin key, virtual keys): never behind the model auth filter.
        self._own_auth = own_auth or []

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):08x}"

    # ------------------------------------------------------------------ app

    def routes(self) -> list[web.RouteDef]:
        """Every route of the model listener, the catch-all last (the model listener of a
        runtime snapshot declares these)."""
        defs = [web.post(path, self._endpoint(SHAPES[shape])) for path, shape in ROUTES]
        defs += [web.get("/v1/models", self._guarded(self.models))]
        defs.append(web.get("/healthz", self.healthz))
        defs += decision_routes(self)
        for r in self._extra_routes:
            # Admin key, probes; the dashboard's page and assets hold no data (a browser
            # cannot send a key when it navigates): its fetches go to /plano/ with the admin key.
            open_ = r.path.startswith(("/plano/", "/dashboard")) or r.path == "/readyz"
            handler = r.handler if open_ else self._guarded(r.handler)
            defs.append(web.RouteDef(r.method, r.path, handler, r.kwargs))
        defs += self._own_auth
        defs.append(web.route("*", "/{tail:[\\s\\S]*}", self.not_found))  # %0a too
        return defs

    def _guarded(self, handler: Any) -> Any:
        """``handler`` behind the chain's head filters (auth) when there are any: the
        model API's other endpoints (models, token counts, stored responses) need a key as
        the model endpoints do. Admin routes (``/plano/``) have the admin key instead."""
        if not self.chain.has("on_headers"):
            return handler

        async def guarded(request: web.Request) -> web.StreamResponse:
            shape = shape_for_path(request.path)
            ctx = self.context(request, shape)
            try:
                await self.chain.on_headers(ctx)
            except PlanoError as err:
                return self._error(ctx, shape, err)
            response: web.StreamResponse = await handler(request)
            return response

        return guarded

    def app(self) -> web.Application:
        """A standalone application serving this gateway alone (tests, the demo); ``plano
        up`` serves listeners through the runtime instead."""
        app = web.Application(client_max_size=self.settings.max_body)
        app.router.add_routes(self.routes())
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        if self.lifecycle is not None:
            await self.lifecycle.start()
        else:
            await self.chain.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self.lifecycle is not None:
            await self.lifecycle.close()
            return
        await self.chain.close()
        await self.pool.close()

    # ------------------------------------------------------------------ handlers

    def _endpoint(self, shape: ClientShape) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, shape)

        return handler

    def context(self, request: web.Request, shape: ClientShape) -> RequestContext:
        """The client hop's context: its own id (the caller's ``x-request-id`` kept beside it),
        its trace (continuing the caller's ``traceparent``), its session."""
        headers = request.headers
        return RequestContext(
            request_id=self.new_id(),  # ours, always unique: usage and audit key on it
            client_request_id=usable_id(headers.get("x-request-id")),
            shape=shape.name,
            headers=headers,  # type: ignore[arg-type]
            trace=TraceContext.start(headers.get("traceparent"), headers.get("tracestate")),
            listener=self.settings.listener,
            session_id=usable_id(
                headers.get("x-plano-session-id") or headers.get("x-model-affinity")
            ),
        )

    async def handle(self, request: web.Request, shape: ClientShape) -> web.StreamResponse:
        ctx = self.context(request, shape)
        ex = Exchange(request)
        admitted = False
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                await self.chain.on_headers(ctx)  # e.g. no key: refused before the body
                body = await self.body.read(request)
                # Counted once the body is in: a client that stalls mid-body holds a
                # connection (bounded per address and by body_timeout), never a slot.
                if self.in_flight >= self.settings.max_in_flight:
                    raise Overloaded("The gateway is at capacity; retry soon.")
                self.in_flight += 1
                admitted = True
                plan = await self._plan(ctx, shape, body)
                return await call_with_fallback(
                    ctx, plan, self.router, lambda c, d: self._attempt(ex, c, d)
                )
        except PlanoError as err:
            return await self._fail(ex, ctx, shape, err)
        except TimeoutError:
            ctx.client_closed = False  # the relay saw a cancellation: it was our time limit
            limit = UpstreamTimeout("The request exceeded the listener's time limit.")
            return await self._fail(ex, ctx, shape, limit)
        except asyncio.CancelledError:
            if not ctx.answered:  # else the client closed after the terminal event
                ctx.client_closed = True
                ctx.status = 499
            raise
        except Exception:
            # A bug, not a client or provider problem: log it with its traceback, answer a
            # client-shaped 500 that names the request id and nothing else.
            log.exception("unexpected error in request %s", ctx.request_id)
            bug = PlanoError(f"Internal gateway error (request id {ctx.request_id}).")
            return await self._fail(ex, ctx, shape, bug)
        finally:
            if admitted:
                self.in_flight -= 1
            if not ctx.end_ns:
                ctx.end_ns = time.perf_counter_ns()
            self.chain.complete(ctx)  # shed and refused requests show in the ledger too

    async def decide(self, request: web.Request, ctx: RequestContext, shape: ClientShape) -> Plan:
        """Read and parse the request, run the input filters, and plan its route."""
        await self.chain.on_headers(ctx)
        return await self._plan(ctx, shape, await self.body.read(request))

    async def _plan(self, ctx: RequestContext, shape: ClientShape, raw: bytes) -> Plan:
        ctx.request = await parse_body(shape, raw)
        await self.chain.on_request(ctx)
        plan = self.router.plan(ctx)
        return plan if isinstance(plan, Plan) else await plan

    async def _attempt(
        self, ex: Exchange, ctx: RequestContext, dep: Deployment
    ) -> web.StreamResponse:
        """One call to one deployment, stream or not, between the attempt observers."""
        chain = self.chain
        chain.attempt_started(ctx, dep)
        outcome: PlanoError | None = _CANCELLED
        try:
            answer = await self._call(ex, ctx, dep)
            outcome = None
            return answer
        except PlanoError as err:
            outcome = err
            raise
        finally:
            chain.attempt_ended(ctx, dep, None if ctx.answered else outcome)

    async def _call(self, ex: Exchange, ctx: RequestContext, dep: Deployment) -> web.StreamResponse:
        req = ctx.request
        assert req is not None
        codec = CODECS.get(dep.family)
        if codec is None:
            raise InvalidRequest(f"Provider family '{dep.family}' is not supported yet.")
        shape = SHAPES[ctx.shape]
        capabilities.check(req, shape.family, dep.family)
        try:
            if req.raw_body is None and _big(req):  # encoded anew: a big one off the loop
                loop = asyncio.get_running_loop()
                ureq = await loop.run_in_executor(None, codec.build, dep, req, ctx.headers)
            else:
                ureq = codec.build(dep, req, ctx.headers)
        except orjson.JSONEncodeError as exc:  # e.g. nested past orjson's depth limit
            raise InvalidRequest(
                "The request cannot be encoded for the provider: a value is nested too "
                "deeply or is not JSON.",
                code="invalid_value",
            ) from exc
        await self.chain.on_upstream_request(ctx, dep, ureq)
        if req.stream:
            limits = self.settings.stream_limits
            return await relay_stream(ctx, ex, self.pool, codec, ureq, shape, self.chain, limits)
        return await call_once(ctx, self.pool, codec, ureq, shape, self.chain)

    async def _fail(
        self, ex: Exchange, ctx: RequestContext, shape: ClientShape, err: PlanoError
    ) -> web.StreamResponse:
        """An error answer: a client-shaped error response, or, when the stream's headers are
        already out, the shape's in-band error event on that stream."""
        if ex.response is not None:
            await fail_stream(ctx, ex.response, shape, err, ex.renderer)
            return ex.response
        return self._error(ctx, shape, err)

    def _error(self, ctx: RequestContext, shape: ClientShape, err: PlanoError) -> web.Response:
        ctx.status = err.status
        ctx.error = detached(err)
        ctx.end_ns = time.perf_counter_ns()
        headers = answer_headers(ctx)
        if err.retry_after is not None:
            headers["retry-after"] = str(max(int(err.retry_after + 0.999), 0))
        if err.status >= 500:
            log.warning("request %s failed: %s %s", ctx.request_id, err.status, err.metric_label)
        resp = web.json_response(
            shape.error_body(err), status=err.status, headers=headers, dumps=_dumps
        )
        if isinstance(err, RequestTimeout):
            resp.force_close()  # the rest of the body may still come: the stream is spent
        return resp

    async def models(self, _request: web.Request) -> web.Response:
        created = int(self.started)
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": _owner(name)}
            for name in self.catalog.names()
        ]
        return web.json_response({"object": "list", "data": data}, dumps=_dumps)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "in_flight": self.in_flight,
                "uptime_s": round(time.time() - self.started, 1),
            },
            dumps=_dumps,
        )

    async def not_found(self, request: web.Request) -> web.Response:
        shape = shape_for_path(request.path)
        ctx = RequestContext(request_id=self.new_id(), shape=shape.name, headers={})
        known = {path for path, _ in ROUTES} | {"/v1/models", "/healthz"}
        path = request.path if len(request.path) <= 200 else request.path[:200] + "..."
        if request.path in known:
            err: PlanoError = MethodNotAllowed(f"Method {request.method} is not allowed on {path}.")
        else:
            err = NotFound(f"Unknown path {path}.", code="unknown_url")
        return self._error(ctx, shape, err)


def _big(req: ChatRequest) -> bool:
    size = text_size(req)
    return size.ascii_chars + size.other_bytes >= BIG_BODY


def _owner(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else "plano"


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
