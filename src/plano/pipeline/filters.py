"""The filter chain: the narrow hook interface every pillar plugs into.

A filter subclasses :class:`Filter` and overrides only the hooks it needs; the chain calls a
hook only on filters that define it, so an unused hook costs nothing per request. Each call is
isolated: a filter that raises a :class:`~plano.errors.PlanoError` stops the request (or, in
``on_upstream_request``, that attempt) on purpose with that client-shaped error; any other
exception is logged and counted, and the chain goes on (unless the filter sets
``fail_closed``, as a security filter should).

Hooks, in request order::

    on_headers(ctx)                      the request head arrived, before its body is read
                                         (ctx.request is None): authenticate, or reject
                                         without reading the body
    on_request(ctx)                      before routing; may rewrite ctx.request or reject
    on_attempt_start(ctx, dep)           an attempt at one deployment begins (observer)
    on_upstream_request(ctx, dep, req)   the HTTP request for that attempt: may add headers,
                                         may refuse the deployment (raise; fallback goes on)
    on_attempt_end(ctx, dep, error)      the attempt ended: error None on success (observer)
    on_response(ctx, resp)               non-stream answer, before it is sent; may rewrite
    on_stream_event(ctx, ev) -> events   each canonical stream event: pass it ([ev]), drop or
                                         hold it ([]), replace or split it ([a, b])
    on_stream_end(ctx) -> events         the stream ended: release what is held
    on_stream_seen(ctx, ev)              each event the client gets (observer, synchronous;
                                         does not make the stream rendered)
    on_complete(ctx)                     after the answer was sent (or failed); usage is
                                         final; runs off the request's task

**Rewrites reach the wire.** A filter whose ``on_request`` may edit ``ctx.request`` keeps
``rewrites_request = True`` (the default, so a filter that forgets cannot be bypassed): after
it ran the request is encoded anew for every upstream instead of relaying the client's bytes.
A filter that never edits the request (auth, limits) sets it to ``False``; one that edits
only sometimes may set it to ``False`` and call ``ctx.request.changed()`` when it does. A
filter that changes a non-stream answer calls ``resp.changed()``. While a request has active
stream filters, its stream is rendered from canonical events in the client's shape instead of
relaying the provider's bytes.
A filter that holds events must release them before it passes a ``StreamEnd``, ``UsageEvent``
or ``StreamError`` (they close the answer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from plano.core.model import ChatResponse, StreamEvent
from plano.errors import PlanoError, detached
from plano.pipeline.context import RequestContext
from plano.pipeline.marks import MARKER, QUIET_FILTERS, FilterMark, TraceMarks

if TYPE_CHECKING:
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment

__all__ = ["Filter", "FilterChain"]

log = logging.getLogger("plano.filters")
_HOOKS = (
    "on_headers",
    "on_request",
    "on_attempt_start",
    "on_upstream_request",
    "on_attempt_end",
    "on_response",
    "on_stream_event",
    "on_stream_end",
    "on_stream_seen",
    "on_complete",
)


class Filter:
    """Base of every filter. Override only the hooks you need."""

    #: Unique id; also the key of the filter's scratch space in ``ctx.state``.
    name: ClassVar[str] = "filter"
    #: A failing fail-closed filter fails the request (500) instead of being skipped.
    fail_closed: ClassVar[bool] = False
    #: ``on_request`` may edit ``ctx.request`` (see the module's docstring).
    rewrites_request: ClassVar[bool] = True

    async def on_headers(self, ctx: RequestContext) -> None:
        """The request's head arrived; its body is not read yet (``ctx.request`` is None).
        Raise a ``PlanoError`` to refuse the request before a byte of its body is read."""

    async def on_request(self, ctx: RequestContext) -> None:
        """Before routing."""

    def on_attempt_start(self, ctx: RequestContext, dep: Deployment) -> None:
        """An attempt at ``dep`` begins (fallbacks included). Keep it cheap: it is synchronous."""

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        """The request about to go to ``dep``: add headers to ``request.headers``, or raise a
        (retryable) ``PlanoError`` to refuse this deployment."""

    def on_attempt_end(
        self, ctx: RequestContext, dep: Deployment, error: PlanoError | None
    ) -> None:
        """The attempt at ``dep`` ended; ``error`` is ``None`` when it answered."""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        """A complete non-stream answer, before it is sent."""

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        """One canonical stream event; returns the events to pass on in its place."""
        return (ev,)

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        """The upstream's stream ended; returns what this filter still holds."""
        return ()

    def on_stream_seen(self, ctx: RequestContext, ev: StreamEvent) -> None:
        """An event on its way to the client, after every stream filter (observe only)."""

    async def on_complete(self, ctx: RequestContext) -> None:
        """After the answer was sent or the request failed."""

    async def start(self) -> None:
        """Called once when the server starts (open stores, spawn background tasks)."""

    async def close(self) -> None:
        """Called once at shutdown (flush and release)."""


def _overrides(f: Filter, hook: str) -> bool:
    return getattr(type(f), hook) is not getattr(Filter, hook)


class FilterChain:
    def __init__(self, filters: Sequence[Filter]) -> None:
        self.filters = list(filters)
        self.failures: Counter[str] = Counter()
        self._by_hook: dict[str, list[Filter]] = {
            h: [f for f in self.filters if _overrides(f, h)] for h in _HOOKS
        }
        #: Per hook, whether each filter's runs go unmarked in a trace (they make no span).
        self._quiet: dict[str, list[bool]] = {
            h: [
                f.name in QUIET_FILTERS and not (f.name == MARKER and h == "on_request") for f in fs
            ]
            for h, fs in self._by_hook.items()
        }
        #: Whether a request filter may have edited the request without saying so.
        self._rewrites = any(f.rewrites_request for f in self._by_hook["on_request"])
        #: Filters that take part in streams (an event hook, an end hook, or both).
        self._streaming = [
            f
            for f in self.filters
            if _overrides(f, "on_stream_event") or _overrides(f, "on_stream_end")
        ]
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[RequestContext] = []
        self._drainer: asyncio.Task[None] | None = None

    def has(self, hook: str) -> bool:
        return bool(self._by_hook[hook])

    @property
    def filters_streams(self) -> bool:
        """Whether any filter sees stream events (then streams are rendered, not relayed)."""
        return bool(self._streaming)

    def _failed(self, f: Filter, hook: str, exc: BaseException) -> None:
        self.failures[f.name] += 1
        log.error("filter %s failed in %s: %r", f.name, hook, exc, exc_info=exc)
        if f.fail_closed:
            raise PlanoError(f"The request could not be checked by filter '{f.name}'.") from exc

    async def _run(
        self, hook: str, call: Callable[[Filter], Awaitable[None]], ctx: RequestContext
    ) -> None:
        if ctx.spans is not None:
            await self._run_marked(hook, call, ctx, ctx.spans)
            return
        for f in self._by_hook[hook]:
            try:
                await call(f)
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, hook, exc)

    async def _run_marked(
        self,
        hook: str,
        call: Callable[[Filter], Awaitable[None]],
        ctx: RequestContext,
        marks: TraceMarks,
    ) -> None:
        """:meth:`_run` for a sampled request: each filter's run is timed for its trace. A
        remote filter names its span in ``marks.active`` when it sends a ``traceparent``;
        the others' span ids are made off the request path, with the spans."""
        for f, quiet in zip(self._by_hook[hook], self._quiet[hook], strict=True):
            start = time.perf_counter_ns()
            if quiet:  # bookkeeping: no span, so no mark, unless it fails
                try:
                    await call(f)
                except PlanoError as err:
                    self._mark_failed(ctx, marks, f, hook, start, err.metric_label)
                    raise
                except Exception as exc:
                    self._mark_failed(ctx, marks, f, hook, start, "filter_failed")
                    self._failed(f, hook, exc)
                continue
            marks.active = None
            error: str | None = None
            try:
                await call(f)
            except PlanoError as err:
                error = err.metric_label
                raise
            except Exception as exc:
                error = "filter_failed"
                self._failed(f, hook, exc)
            finally:
                span_id, marks.active = marks.active or "", None
                marks.filters.append(
                    FilterMark(
                        ctx.trace.span_id,
                        span_id,
                        f.name,
                        hook,
                        start,
                        time.perf_counter_ns(),
                        error,
                    )
                )

    @staticmethod
    def _mark_failed(
        ctx: RequestContext, marks: TraceMarks, f: Filter, hook: str, start: int, error: str
    ) -> None:
        now = time.perf_counter_ns()
        marks.filters.append(FilterMark(ctx.trace.span_id, "", f.name, hook, start, now, error))

    def _observe(self, hook: str, call: Callable[[Filter], None]) -> None:
        for f in self._by_hook[hook]:
            try:
                call(f)
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, hook, exc)

    async def on_headers(self, ctx: RequestContext) -> None:
        if self._by_hook["on_headers"]:
            await self._run("on_headers", lambda f: f.on_headers(ctx), ctx)

    async def on_request(self, ctx: RequestContext) -> None:
        if self._by_hook["on_request"]:
            await self._run("on_request", lambda f: f.on_request(ctx), ctx)
            if self._rewrites and ctx.request is not None:
                ctx.request.changed()

    def attempt_started(self, ctx: RequestContext, dep: Deployment) -> None:
        if self._by_hook["on_attempt_start"]:
            self._observe("on_attempt_start", lambda f: f.on_attempt_start(ctx, dep))

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        if self._by_hook["on_upstream_request"]:
            await self._run(
                "on_upstream_request", lambda f: f.on_upstream_request(ctx, dep, request), ctx
            )

    def attempt_ended(self, ctx: RequestContext, dep: Deployment, error: PlanoError | None) -> None:
        """Observers of an attempt's end; never raises (the outcome is already decided)."""
        for f in self._by_hook["on_attempt_end"]:
            try:
                f.on_attempt_end(ctx, dep, error)
            except Exception as exc:
                self.failures[f.name] += 1
                log.error("filter %s failed in on_attempt_end: %r", f.name, exc, exc_info=exc)

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        if self._by_hook["on_response"]:
            await self._run("on_response", lambda f: f.on_response(ctx, resp), ctx)

    async def stream_events(
        self, ctx: RequestContext, events: Sequence[StreamEvent]
    ) -> list[StreamEvent]:
        """Events through every stream filter in order (each sees the previous one's output)."""
        out = list(events)
        for f in self._by_hook["on_stream_event"]:
            if not out:
                break
            out = await self._through(f, ctx, out)
        return out

    async def _through(
        self, f: Filter, ctx: RequestContext, events: list[StreamEvent]
    ) -> list[StreamEvent]:
        passed: list[StreamEvent] = []
        for ev in events:
            try:
                passed.extend(await f.on_stream_event(ctx, ev))
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, "on_stream_event", exc)
                passed.append(ev)  # fail open: the event passes as it came
        return passed

    def stream_seen(self, ctx: RequestContext, events: Sequence[StreamEvent]) -> None:
        for f in self._by_hook["on_stream_seen"]:
            for ev in events:
                try:
                    f.on_stream_seen(ctx, ev)
                except PlanoError:
                    raise
                except Exception as exc:
                    self._failed(f, "on_stream_seen", exc)

    async def stream_end(self, ctx: RequestContext) -> list[StreamEvent]:
        """What the stream filters still hold, each filter's release passed through the
        filters after it."""
        out: list[StreamEvent] = []
        for f in self._streaming:
            if out and _overrides(f, "on_stream_event"):
                out = await self._through(f, ctx, out)
            try:
                out.extend(await f.on_stream_end(ctx))
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, "on_stream_end", exc)
        return out

    def complete(self, ctx: RequestContext) -> None:
        """Queue ``on_complete`` for this request. One background task drains the queue, so a
        burst of requests costs one task, not one each (task creation was a visible cost)."""
        if ctx.error is not None:
            detached(ctx.error)  # queued: its traceback must not keep the request's frames
        if ctx.request is not None:
            ctx.request.raw_body = None  # sent: only the parsed request is needed from now on
        if not self._by_hook["on_complete"]:
            return
        self._pending.append(ctx)
        if self._drainer is None:
            task = asyncio.get_running_loop().create_task(self._drain())
            self._drainer = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                for ctx in batch:
                    await self._complete(ctx)
        finally:
            self._drainer = None

    async def _complete(self, ctx: RequestContext) -> None:
        for f in self._by_hook["on_complete"]:
            try:
                await f.on_complete(ctx)
            except Exception as exc:  # nothing to stop: the answer is already out
                self.failures[f.name] += 1
                log.error("filter %s failed in on_complete: %r", f.name, exc, exc_info=exc)

    async def start(self) -> None:
        for f in self.filters:
            await f.start()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for f in self.filters:
            try:
                await f.close()
            except Exception as exc:
                log.error("filter %s failed to close: %r", f.name, exc)

    def snapshot(self) -> dict[str, Any]:
        return {"filters": [f.name for f in self.filters], "failures": dict(self.failures)}
