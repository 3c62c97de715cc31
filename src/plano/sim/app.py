"""The simulated-provider request handler: routes, the request pipeline, faults, introspection.

One handler speaks every wire shape; the path picks the shape (:data:`EXACT_ROUTES` and
:func:`resolve`). It runs on aiohttp's low-level server with a dict lookup instead of a router,
and reuses rendered bodies (:mod:`plano.sim.cache`), because it is also the upstream of the
benchmarks and must not be their bottleneck.

Introspection (not recorded, not counted)::

    GET  /_sim/requests   the last received requests (path, headers, parsed body)
    GET  /_sim/stats      counters: total, per path, in flight, faults, streams
    GET  /_sim/options    the current options
    POST /_sim/options    merge the JSON body's fields onto the options
    POST /_sim/reset      forget requests and counters
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web

from plano.sim.anthropic import AnthropicMessages
from plano.sim.anthropic import render_models as anthropic_models
from plano.sim.cache import CREATED_SENTINEL, SEQ_SENTINEL, ResponseCache, Template, cacheable
from plano.sim.content import Answer, BadRequest, ErrorKind, Knobs, Meta, Prompt, WireShape, compose
from plano.sim.faults import (
    GARBAGE_BODY,
    STATUS,
    FaultKind,
    FaultPlan,
    cut_body,
    cut_stream,
    error_for,
    garble_stream,
)
from plano.sim.gemini import Gemini
from plano.sim.openai_chat import OpenAIChat
from plano.sim.openai_chat import render_models as openai_models
from plano.sim.options import SimOptions, options_from_headers
from plano.sim.responses import Responses

__all__ = ["EXACT_ROUTES", "RecordedRequest", "Route", "SimApp", "SimStats", "resolve"]

_JSON: Final = {"Content-Type": "application/json"}
_SSE: Final = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_NO_QUERY: Final[Mapping[str, str]] = {}


@dataclass(frozen=True, slots=True)
class Route:
    shape: WireShape
    #: Provider label when the options do not set ``name``.
    label: str


_CHAT = Route(OpenAIChat(), "openai")
#: Path -> route for the fixed-path endpoints (all POST).
EXACT_ROUTES: Final[dict[str, Route]] = {
    "/v1/chat/completions": _CHAT,
    "/chat/completions": _CHAT,
    "/v1/messages": Route(AnthropicMessages(), "anthropic"),
    "/v1/responses": Route(Responses(), "openai"),
    "/responses": Route(Responses(), "openai"),
}
_AZURE = Route(OpenAIChat("azure"), "azure")
_GEMINI = Route(Gemini(), "gemini")
_GEMINI_PREFIXES: Final = ("/v1beta/models/", "/v1/models/")
_GEMINI_ACTIONS: Final = frozenset(("generateContent", "streamGenerateContent"))


def resolve(path: str) -> tuple[Route, str] | None:
    """The route and model hint of a path with parameters (Azure deployments, Gemini models)."""
    if path.startswith("/openai/deployments/") and path.endswith("/chat/completions"):
        deployment = path[len("/openai/deployments/") : -len("/chat/completions")]
        return (_AZURE, deployment) if deployment and "/" not in deployment else None
    for prefix in _GEMINI_PREFIXES:
        if path.startswith(prefix):
            hint = path[len(prefix) :]
            model, _, action = hint.partition(":")
            return (_GEMINI, hint) if model and action in _GEMINI_ACTIONS else None
    return None


class RecordedRequest:
    """One received request. Headers and body are decoded on first access, off the hot path."""

    __slots__ = ("_body", "_headers", "_raw_headers", "method", "path", "query", "raw_body")

    def __init__(
        self, method: str, path: str, query: str, headers: Mapping[str, str], raw_body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.raw_body = raw_body
        self._raw_headers = headers
        self._headers: dict[str, str] | None = None
        self._body: Any = ...

    @property
    def headers(self) -> dict[str, str]:
        """Header names lower-cased."""
        if self._headers is None:
            self._headers = {k.lower(): v for k, v in self._raw_headers.items()}
        return self._headers

    @property
    def body(self) -> Any:
        """The parsed JSON body; ``None`` when there was none or it was not JSON."""
        if self._body is ...:
            self._body = _loads(self.raw_body)
        return self._body

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        }

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path})"


@dataclass(frozen=True, slots=True)
class SimStats:
    total: int
    in_flight: int
    streams: int
    by_path: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SimApp:
    """The request handler and its state; one per server (and per worker process)."""

    def __init__(self, options: SimOptions, history: int = 1000) -> None:
        # Replaced as a whole, so a request sees options, plan and cache that belong together.
        self._state = (options, _plan(options), ResponseCache())
        self._requests: deque[RecordedRequest] = deque(maxlen=history)
        self._seq = itertools.count(1)
        self._closing = asyncio.Event()
        self.total = 0
        self.in_flight = 0
        self.streams = 0
        self.by_path: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self._admin: dict[tuple[str, str], Callable[[web.BaseRequest], Awaitable[bytes]]] = {
            ("GET", "/_sim/requests"): self._get_requests,
            ("GET", "/_sim/stats"): self._get_stats,
            ("GET", "/_sim/options"): self._get_options,
            ("POST", "/_sim/options"): self._post_options,
            ("POST", "/_sim/reset"): self._post_reset,
        }

    # ------------------------------------------------------------ state

    @property
    def options(self) -> SimOptions:
        return self._state[0]

    def set_options(self, options: SimOptions) -> None:
        """Replace the options; the fault plan (seed, ``fault_after`` count) starts over."""
        self._state = (options, _plan(options), ResponseCache())

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    @property
    def stats(self) -> SimStats:
        return SimStats(
            self.total, self.in_flight, self.streams, dict(self.by_path), dict(self.fault_counts)
        )

    def reset(self) -> None:
        self._requests.clear()
        self.total = self.streams = 0
        self.by_path.clear()
        self.fault_counts.clear()

    def close(self) -> None:
        """Release hanging and waiting requests so the server can stop at once."""
        self._closing.set()

    # ------------------------------------------------------------ dispatch

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        route = EXACT_ROUTES.get(path)
        hint = ""
        if route is None:
            if path.startswith("/_sim/"):
                return await self._introspect(request)
            found = resolve(path)
            if found is not None:
                route, hint = found
        self.total += 1
        self.by_path[path] += 1
        if route is not None and request.method == "POST":
            self.in_flight += 1
            try:
                return await self._answer(request, route, hint)
            finally:
                self.in_flight -= 1
        if request.method == "GET" and path in ("/v1/models", "/models"):
            return self._models(request)
        shape = _GEMINI.shape if path.startswith("/v1beta/") else _CHAT.shape
        message = f"Unknown request URL: {request.method} {path}."
        return _error(shape, "not_found", message, self.options)

    def _models(self, request: web.BaseRequest) -> web.Response:
        opts, now = self.options, int(time.time())
        if request.headers.get("anthropic-version"):
            return web.Response(body=anthropic_models(opts.models, now), headers=_JSON)
        body = openai_models(opts.models, opts.name or "openai", now)
        return web.Response(body=body, headers=_JSON)

    # ------------------------------------------------------------ the pipeline

    async def _answer(
        self, request: web.BaseRequest, route: Route, hint: str
    ) -> web.StreamResponse:
        shape, headers, path = route.shape, request.headers, request.path
        content = request.content
        # The body of a small request is usually complete before the handler runs.
        raw = content.read_nowait() if content.is_eof() else await request.read()
        record = RecordedRequest(request.method, path, request.query_string, headers, raw)
        self._requests.append(record)
        base, plan, cache = self._state
        try:
            opts, forced = options_from_headers(base, headers)
        except ValueError as exc:
            return _error(shape, "bad_request", str(exc), base)
        query = request.query if request.query_string else _NO_QUERY
        denied = shape.authenticate(headers, query, opts.require_auth)
        if denied is not None:
            return _error(shape, denied[0], denied[1], opts)
        fault = forced or plan.pick()
        if fault != "none":
            self.fault_counts[fault] += 1
        delay = opts.slow_ms if fault == "slow" else opts.latency_ms
        if (delay > 0 and not await self._pause(delay / 1000)) or fault == "hang":
            await self._closing.wait()
            return _abort(request)
        key = (path, raw)
        template = cache.get(key) if opts is base else None
        if template is None:
            try:
                prompt = shape.parse(_body_of(record), hint, query)
            except BadRequest as exc:
                return _error(shape, "bad_request", exc.message, opts)
            except (TypeError, AttributeError, KeyError, ValueError) as exc:  # ill-typed fields
                return _error(shape, "bad_request", f"Invalid request body: {exc}", opts)
            prompt_tokens = prompt.prompt_tokens
        else:
            prompt_tokens = template.prompt_tokens
        failure = error_for(fault, prompt_tokens)
        if failure is not None:
            return _error(shape, failure[0], failure[1], opts)
        if template is None:
            if prompt.stream:
                return await self._stream(request, route, prompt, opts, fault)
            template = self._template(route, prompt, opts)
            if opts is base and cacheable(raw):
                cache.put(key, template)
        body = template.fill(next(self._seq), int(time.time()))
        if fault == "none":
            return web.Response(body=body, headers=_JSON)
        return await _send_body(request, body, fault)

    def _compose(
        self, route: Route, prompt: Prompt, opts: SimOptions, seq: int, created: int
    ) -> tuple[Answer, Meta]:
        label = opts.name or route.label
        knobs = Knobs(
            label,
            opts.output_tokens,
            opts.cached_tokens,
            opts.cache_write_tokens,
            opts.reasoning_tokens,
        )
        return compose(prompt, knobs, seq), Meta(seq, created, prompt.model, label)

    def _template(self, route: Route, prompt: Prompt, opts: SimOptions) -> Template:
        answer, meta = self._compose(route, prompt, opts, SEQ_SENTINEL, CREATED_SENTINEL)
        return Template(route.shape.render(answer, meta, prompt), prompt.prompt_tokens)

    async def _stream(
        self,
        request: web.BaseRequest,
        route: Route,
        prompt: Prompt,
        opts: SimOptions,
        fault: FaultKind,
    ) -> web.StreamResponse:
        self.streams += 1
        answer, meta = self._compose(route, prompt, opts, next(self._seq), int(time.time()))
        events = route.shape.stream(answer, meta, prompt)
        if fault == "garbage":
            events = garble_stream(events)
        elif fault == "cut":
            events = cut_stream(events)
        resp = web.StreamResponse(headers=_JSON if prompt.array_stream else _SSE)
        try:
            await resp.prepare(request)
            if opts.tokens_per_second <= 0:
                await resp.write(b"".join(events))
            else:
                tokens = answer.usage.completion_tokens
                gap = tokens / opts.tokens_per_second / max(1, len(events) - 1)
                for i, event in enumerate(events):
                    if i and not await self._pause(gap):
                        return _abort(request, resp)
                    await resp.write(event)
            if fault == "cut":
                return _abort(request, resp)
            await resp.write_eof()
        except ConnectionResetError:  # the client left mid-stream
            pass
        return resp

    async def _pause(self, seconds: float) -> bool:
        """Sleep; ``False`` when the server started closing meanwhile."""
        if self._closing.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return not self._closing.is_set()

    # ------------------------------------------------------------ introspection

    async def _introspect(self, request: web.BaseRequest) -> web.StreamResponse:
        handler = self._admin.get((request.method, request.path))
        if handler is None:
            return web.Response(status=404, body=b'{"error":"unknown sim endpoint"}', headers=_JSON)
        try:
            return web.Response(body=await handler(request), headers=_JSON)
        except ValueError as exc:
            body = orjson.dumps({"error": str(exc)})
            return web.Response(status=400, body=body, headers=_JSON)

    async def _get_requests(self, request: web.BaseRequest) -> bytes:
        return orjson.dumps([r.to_dict() for r in self.requests])

    async def _get_stats(self, request: web.BaseRequest) -> bytes:
        return orjson.dumps(self.stats.to_dict())

    async def _get_options(self, request: web.BaseRequest) -> bytes:
        return orjson.dumps(self.options.to_dict())

    async def _post_options(self, request: web.BaseRequest) -> bytes:
        data = _loads(await request.read())
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object of option fields")
        self.set_options(SimOptions.from_mapping(data, self.options))
        return orjson.dumps(self.options.to_dict())

    async def _post_reset(self, request: web.BaseRequest) -> bytes:
        self.reset()
        return b"{}"


def _plan(options: SimOptions) -> FaultPlan:
    return FaultPlan(options.fault, options.fault_rate, options.fault_after, options.seed)


def _loads(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _body_of(record: RecordedRequest) -> Any:
    body = record.body
    if body is None and record.raw_body:
        raise BadRequest("We could not parse the JSON body of your request.")
    return body


async def _send_body(request: web.BaseRequest, body: bytes, fault: FaultKind) -> web.StreamResponse:
    if fault == "garbage":
        return web.Response(body=GARBAGE_BODY, headers=_JSON)
    if fault != "cut":
        return web.Response(body=body, headers=_JSON)
    resp = web.StreamResponse(headers=_JSON)
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(cut_body(body))
    return _abort(request, resp)


def _error(shape: WireShape, kind: ErrorKind, message: str, opts: SimOptions) -> web.Response:
    headers = _JSON
    if kind == "rate_limit":
        headers = {**_JSON, "Retry-After": str(opts.retry_after)}
    return web.Response(status=STATUS[kind], body=shape.error(kind, message), headers=headers)


def _abort(request: web.BaseRequest, resp: web.StreamResponse | None = None) -> web.StreamResponse:
    """Drop the connection without finishing the response."""
    if request.transport is not None:
        request.transport.abort()
    return resp if resp is not None else web.Response(status=499)
