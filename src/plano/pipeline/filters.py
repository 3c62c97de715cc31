"""The filter chain: the narrow hook interface every pillar plugs into.

A filter subclasses :class:`Filter` and overrides only the hooks it needs; the chain calls a
hook only on filters that define it, so an unused hook costs nothing per request. Each call is
isolated: a filter that raises a :class:`~plano.errors.PlanoError` stops the request on purpose
with that client-shaped error; any other exception is logged and counted, and the chain goes on
(unless the filter sets ``fail_closed``, as a security filter should).

Hooks, in request order::

    on_request(ctx)            before routing; may rewrite ctx.request or reject
    on_response(ctx, resp)     non-stream answer, before it is sent; may rewrite or reject
    on_stream_event(ctx, ev)   each canonical stream event (sync: it is on the hot path)
    on_complete(ctx)           after the answer was sent (or failed); usage is final; runs
                               off the request's task, so it never delays the client
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from plano.core.model import ChatResponse, StreamEvent
from plano.errors import PlanoError
from plano.pipeline.context import RequestContext

__all__ = ["Filter", "FilterChain"]

log = logging.getLogger("plano.filters")
_HOOKS = ("on_request", "on_response", "on_stream_event", "on_complete")


class Filter:
    """Base of every filter. Override only the hooks you need."""

    #: Unique id; also the key of the filter's scratch space in ``ctx.state``.
    name: ClassVar[str] = "filter"
    #: A failing fail-closed filter fails the request (500) instead of being skipped.
    fail_closed: ClassVar[bool] = False

    async def on_request(self, ctx: RequestContext) -> None:
        """Before routing."""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        """A complete non-stream answer, before it is sent."""

    def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> None:
        """One canonical stream event, before it is sent."""

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
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[RequestContext] = []
        self._drainer: asyncio.Task[None] | None = None

    def has(self, hook: str) -> bool:
        return bool(self._by_hook[hook])

    def _failed(self, f: Filter, hook: str, exc: BaseException) -> None:
        self.failures[f.name] += 1
        log.error("filter %s failed in %s: %r", f.name, hook, exc, exc_info=exc)
        if f.fail_closed:
            raise PlanoError(f"The request could not be checked by filter '{f.name}'.") from exc

    async def _run(self, hook: str, call: Callable[[Filter], Awaitable[None]]) -> None:
        for f in self._by_hook[hook]:
            try:
                await call(f)
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, hook, exc)

    async def on_request(self, ctx: RequestContext) -> None:
        if self._by_hook["on_request"]:
            await self._run("on_request", lambda f: f.on_request(ctx))

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        if self._by_hook["on_response"]:
            await self._run("on_response", lambda f: f.on_response(ctx, resp))

    def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> None:
        for f in self._by_hook["on_stream_event"]:
            try:
                f.on_stream_event(ctx, ev)
            except PlanoError:
                raise
            except Exception as exc:
                self._failed(f, "on_stream_event", exc)

    def complete(self, ctx: RequestContext) -> None:
        """Queue ``on_complete`` for this request. One background task drains the queue, so a
        burst of requests costs one task, not one each (task creation was a visible cost)."""
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
