"""Tracing: one trace per user query, recorded as plain values and exported off the hot path.

On the request path (cheap, synchronous, no SDK: an OpenTelemetry SDK span costs ~30 us here,
a mark ~0.6 us, ``bench/otel_span_cost.py``):

* :class:`TraceStart` (first filter, ``on_headers``) samples the request: a client's
  ``traceparent`` decides for its own requests (parent-based), else ``random_sampling``; a
  sampled request gets ``ctx.spans`` (:class:`~plano.pipeline.marks.TraceMarks`), which the
  filter chain fills with each filter's timing and every hop made with ``ctx.child`` joins.
* :class:`TracingFilter` (last filter) marks when routing starts (its ``on_request``), opens
  an attempt span per upstream attempt (fallbacks included) and sends that span as
  ``traceparent`` to the provider, and hands the finished request to the :class:`Tracer`
  (``on_complete``, off the request's task).

In the :class:`Tracer`'s background batch (its own thread for the CPU work): spans are built
(``tracing_build.py``), span enrichers run (:func:`add_span_enricher`), the batch becomes one
OTLP protobuf payload for each exporter (gRPC, HTTP) and one stored part per request for the
recent traces (the durable store, through a :class:`~plano.store.writer.BatchWriter`). The
queue is bounded: past ``queue_size`` requests new ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from plano.config.tracing import Tracing
from plano.core.model import ChatResponse, StreamEvent, TextDelta, TextPart
from plano.core.trace import new_span_id
from plano.errors import PlanoError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.pipeline.marks import AttemptMark, TraceMarks
from plano.store.db import SQLiteDatabase
from plano.store.traces import PostgresTraceLog, SQLiteTraceLog, TraceLog
from plano.store.writer import BatchWriter

from .export import Exporter, GrpcExporter, HttpExporter
from .otlp_wire import encode_request
from .recent import part_record
from .spans import Span
from .tracing_build import BuildSettings, build_spans

if TYPE_CHECKING:
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment
    from plano.store.setup import StateStores

__all__ = [
    "SpanEnricher",
    "TraceStart",
    "Tracer",
    "TracingFilter",
    "TracingHub",
    "add_span_enricher",
    "filter_span_names",
    "span_enrichers",
]

log = logging.getLogger("plano.tracing")

#: ``fn(ctx, spans)``: adds attributes or events to a finished request's spans (the first is
#: the request's own span). Runs in the tracer's batch thread: keep it pure and quick; it
#: must not touch the event loop. An enricher that raises is logged and skipped.
SpanEnricher = Callable[[RequestContext, list[Span]], None]


class SpanEnrichers:
    """The process's span enrichers (agentic signals add theirs at start-up)."""

    def __init__(self) -> None:
        self._fns: list[SpanEnricher] = []
        self.failures = 0

    def add(self, fn: SpanEnricher) -> None:
        if fn not in self._fns:
            self._fns.append(fn)

    def remove(self, fn: SpanEnricher) -> None:
        with contextlib.suppress(ValueError):
            self._fns.remove(fn)

    def run(self, ctx: RequestContext, spans: list[Span]) -> None:
        for fn in self._fns:
            try:
                fn(ctx, spans)
            except Exception as exc:
                self.failures += 1
                log.error("span enricher %r failed: %r", fn, exc)


span_enrichers = SpanEnrichers()
#: Register a span enricher for every tracer of this process (see :data:`SpanEnricher`).
add_span_enricher = span_enrichers.add


class _Done(NamedTuple):
    ctx: RequestContext
    marks: TraceMarks
    output: str | None


class Tracer:
    """The process's span pipeline: a bounded queue of finished requests, batched into OTLP
    exports and recent-trace parts. Starts its task on the first request it gets."""

    def __init__(
        self,
        settings: Tracing,
        exporters: Sequence[Exporter],
        recent: BatchWriter | None,
        *,
        enrichers: SpanEnrichers = span_enrichers,
        resource: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.build = _build_settings(settings, {})
        self.exporters = list(exporters)
        self.recent = recent
        self.enrichers = enrichers
        self.resource: dict[str, str | bool | int | float] = dict(resource or {})
        self._queue: deque[_Done] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.queued_max = settings.queue_size
        self.submitted = 0
        self.dropped = 0
        self.batches = 0
        self.spans = 0
        #: Traces exported but not kept in the recent traces (past ``recent.max_per_second``).
        self.not_kept = 0
        self._allowance = float(settings.recent.max_per_second)
        self._refilled = time.monotonic()
        self._drops_logged = -1e18

    # ------------------------------------------------------------------ the request side

    def submit(self, ctx: RequestContext, marks: TraceMarks, output: str | None = None) -> bool:
        if len(self._queue) >= self.queued_max:
            self.dropped += 1
            now = time.monotonic()
            if now - self._drops_logged >= 30.0:
                self._drops_logged = now
                log.warning("trace queue full; %d trace(s) dropped in all", self.dropped)
            return False
        self._queue.append(_Done(ctx, marks, output))
        self.submitted += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._queue) >= self.settings.batch_size:
            self._wake.set()
        return True

    # ------------------------------------------------------------------ the batch side

    async def _run(self) -> None:
        if self.recent is not None:
            await self.recent.start()  # idempotent; the hub closes it
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.export_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a bug in a batch must not stop tracing for good
                log.exception("trace batch failed")

    async def flush(self) -> int:
        """Export and store what is queued now (after a batch already under way: a reader of
        the recent traces sees every request answered before it asked); the spans handled."""
        done = 0
        async with self._lock:
            while self._queue:
                n = min(self.settings.batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(n)]
                done += await self._batch(batch)
        return done

    async def _batch(self, batch: list[_Done]) -> int:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="plano-trace")
        loop = asyncio.get_running_loop()
        export = bool(self.exporters)
        keep = self._keep_allowance() if self.recent is not None else 0
        payload, parts, count = await loop.run_in_executor(
            self._pool, self._prepare, batch, export, keep
        )
        self.batches += 1
        self.spans += count
        if self.recent is not None:
            for part in parts:
                self.recent.submit(part)
        if payload is not None:
            await asyncio.gather(*(e.export(payload, count) for e in self.exporters))
        return count

    def _keep_allowance(self) -> int:
        """Traces this batch may add to the recent traces: ``recent.max_per_second`` refilled
        since the last batch (a burst of one second at most)."""
        rate = self.settings.recent.max_per_second
        now = time.monotonic()
        self._allowance = min(float(rate), self._allowance + (now - self._refilled) * rate)
        self._refilled = now
        return int(self._allowance)

    def _prepare(
        self, batch: list[_Done], export: bool, keep: int
    ) -> tuple[bytes | None, list[dict[str, Any]], int]:
        """On the tracer's thread: spans, enrichers, the OTLP payload, the stored parts (at
        most ``keep`` of them, failed requests first in line)."""
        offset = time.time_ns() - time.perf_counter_ns()
        every: list[Span] = []
        parts: list[dict[str, Any]] = []
        for item in batch:
            spans = build_spans(item.ctx, item.marks, self.build, offset, item.output)
            self.enrichers.run(item.ctx, spans)
            every += spans
            if len(parts) < keep or (spans[0].is_error and len(parts) < 2 * keep + 1):
                parts.append(part_record(item.ctx, spans))
        self._allowance -= len(parts)
        self.not_kept += len(batch) - len(parts)
        payload = encode_request(every, self.resource) if export else None
        return payload, parts, len(every)

    def stats(self) -> dict[str, Any]:
        return {
            "queued": len(self._queue),
            "max_queue": self.queued_max,
            "submitted": self.submitted,
            "dropped": self.dropped,
            "batches": self.batches,
            "spans": self.spans,
            "not_kept": self.not_kept,
            "enricher_failures": self.enrichers.failures,
            "exporters": [e.stats() for e in self.exporters],
            "recent_writer": self.recent.stats() if self.recent is not None else None,
        }

    async def close(self, within: float = 5.0) -> None:
        """Export what is queued (``within`` seconds), then close the exporters."""
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(within):
                if self._task is not None:
                    await self._task  # ends after the batch under way and one last flush
                await self.flush()
        except TimeoutError:
            log.warning("trace export at shutdown timed out; %d queued", len(self._queue))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for e in self.exporters:
            try:
                await e.close()
            except Exception as exc:
                log.warning("closing trace exporter %s failed: %r", e.name, exc)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def _build_settings(t: Tracing, filter_names: dict[str, str]) -> BuildSettings:
    attrs = t.span_attributes
    return BuildSettings(
        static=dict(attrs.static) if attrs is not None else {},
        header_prefixes=tuple(attrs.header_prefixes) if attrs is not None else (),
        capture_content=t.capture_content,
        content_max_chars=t.content_max_chars,
        filter_names=filter_names,
    )


# ---------------------------------------------------------------------- the filters


class TraceStart(Filter):
    """First in the chain: samples the request before anything else runs on it."""

    name: ClassVar[str] = "tracing"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, rate: int, rng: random.Random | None = None) -> None:
        self.rate = rate / 100.0
        self._rng = rng or random.Random()

    async def on_headers(self, ctx: RequestContext) -> None:
        if ctx.parent is not None:  # a hop of a request: its request decided (ctx.spans)
            return
        trace = ctx.trace
        if trace.parent_id is not None:  # the caller decided (W3C sampled flag)
            sampled = trace.sampled
        else:
            sampled = self.rate >= 1.0 or self._rng.random() < self.rate
        if sampled:
            ctx.spans = TraceMarks()
        elif trace.sampled:
            ctx.trace = dataclasses.replace(trace, sampled=False)


class TracingFilter(Filter):
    """Last in the chain: the routing marker, attempt spans with ``traceparent`` upstream,
    and the hand-off of the finished request to the tracer."""

    name: ClassVar[str] = "tracing"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    async def on_request(self, ctx: RequestContext) -> None:
        """Nothing: the chain's mark of this call says when routing began."""

    def on_attempt_start(self, ctx: RequestContext, dep: Deployment) -> None:
        if ctx.spans is not None:
            ctx.state["tracing.attempt"] = [new_span_id(), time.perf_counter_ns(), ""]

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        open_ = ctx.state.get("tracing.attempt") if ctx.spans is not None else None
        if open_ is not None:
            open_[2] = request.url  # its path is taken in the batch
            span = ctx.trace.child(open_[0])
        else:
            span = ctx.trace.child()
        request.headers["traceparent"] = span.traceparent()
        if span.state:
            request.headers["tracestate"] = span.state

    def on_attempt_end(
        self, ctx: RequestContext, dep: Deployment, error: PlanoError | None
    ) -> None:
        marks = ctx.spans
        open_ = ctx.state.pop("tracing.attempt", None)
        if marks is None or open_ is None:
            return
        span_id, start, path = open_
        marks.attempts.append(
            AttemptMark(
                ctx.trace.span_id,
                span_id,
                dep.key,
                dep.provider,
                dep.model_id,
                path,
                start,
                time.perf_counter_ns(),
                error.status if error is not None else ctx.status,
                error.metric_label if error is not None else None,
            )
        )

    async def on_complete(self, ctx: RequestContext) -> None:
        marks = ctx.spans
        if marks is not None and ctx.parent is None:  # the request's own hop has them all
            self.tracer.submit(ctx, marks, ctx.state.pop("tracing.output", None))


class ContentTracingFilter(TracingFilter):
    """:class:`TracingFilter` that also keeps the answer's text for the span (``tracing.
    capture_content``), as the client got it: after every output filter (PII included)."""

    def __init__(self, tracer: Tracer, cap: int) -> None:
        super().__init__(tracer)
        self.cap = cap

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        if ctx.spans is not None and resp.choices:
            m = resp.choices[0].message
            text = "".join(p.text for p in m.content if isinstance(p, TextPart))
            ctx.state["tracing.output"] = text[: self.cap]

    def on_stream_seen(self, ctx: RequestContext, ev: StreamEvent) -> None:
        # The deltas are kept as a list and joined once, when the request ends (joining per
        # delta copied the text so far each time: quadratic up to the cap).
        if ctx.spans is not None and isinstance(ev, TextDelta) and ev.index == 0:
            kept = ctx.state.get("tracing.deltas")
            if kept is None:
                kept = ctx.state["tracing.deltas"] = _Deltas()
            if kept.size < self.cap:
                kept.parts.append(ev.text)
                kept.size += len(ev.text)

    async def on_complete(self, ctx: RequestContext) -> None:
        kept = ctx.state.pop("tracing.deltas", None)
        if isinstance(kept, _Deltas):
            ctx.state["tracing.output"] = "".join(kept.parts)[: self.cap]
        await super().on_complete(ctx)


class _Deltas:
    """A streamed answer's text deltas, up to the cap."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0


# ---------------------------------------------------------------------- per process


class TracingHub:
    """What a process keeps for tracing across config reloads: the recent traces' log (read
    by the trace API even when tracing is off) and the :class:`Tracer`, made from the first
    config that has a ``tracing:`` section (export settings apply at restart; sampling and
    attributes follow each reload)."""

    def __init__(self, stores: StateStores, env_endpoint: str | None = None) -> None:
        self._stores = stores
        self._env_endpoint = env_endpoint
        self._log: TraceLog | None = None
        self.tracer: Tracer | None = None
        self.writer: BatchWriter | None = None
        self._keep = 1000
        self._max_age = 86400.0

    @property
    def log(self) -> TraceLog:
        if self._log is None:
            db = self._stores.db.retain()
            if isinstance(db, SQLiteDatabase):
                self._log = SQLiteTraceLog(db, keep=self._keep, max_age=self._max_age)
            else:
                self._log = PostgresTraceLog(db, keep=self._keep, max_age=self._max_age)
        return self._log

    def filters(self, tracing: Tracing | None, filter_names: dict[str, str]) -> list[Filter]:
        """``[TraceStart, TracingFilter]`` for a snapshot's chain (``[]`` without tracing)."""
        if tracing is None:
            return []
        tracer = self._tracer(tracing)
        tracer.build = _build_settings(tracing, filter_names)
        end = (
            ContentTracingFilter(tracer, tracing.content_max_chars)
            if tracing.capture_content
            else TracingFilter(tracer)
        )
        return [TraceStart(tracing.random_sampling), end]

    def _tracer(self, t: Tracing) -> Tracer:
        if self.tracer is not None:
            return self.tracer
        self._keep, self._max_age = t.recent.keep, t.recent.max_age
        if t.recent.keep > 0:
            w = self._stores.settings.writer
            self.writer = BatchWriter(
                self.log,
                name="trace log",
                batch=w.batch,
                interval=w.interval,
                max_queue=w.max_queue,
                health=self._stores.health["durable"],
            )
        exporters: list[Exporter] = []
        grpc = t.grpc_endpoint(self._env_endpoint)
        if grpc is not None:
            exporters.append(GrpcExporter(grpc, t.otlp_headers, t.export_timeout))
        if t.otlp_export and t.otlp_http_endpoint:
            exporters.append(HttpExporter(t.otlp_http_endpoint, t.otlp_headers, t.export_timeout))
        self.tracer = Tracer(t, exporters, self.writer)
        return self.tracer

    def status(self) -> dict[str, Any]:
        return {"enabled": self.tracer is not None, **(self.tracer.stats() if self.tracer else {})}

    async def close(self, within: float = 5.0) -> None:
        if self.tracer is not None:
            await self.tracer.close(within)
        if self.writer is not None:
            await self.writer.close(within)
        if self._log is not None:
            await self._log.close()


#: Plano's span names for its remote filter kinds; other filters are named by their id.
_FILTER_SPAN_NAMES: dict[str, str] = {
    "http": "execute_raw_filter ({id})",
    "mcp": "execute_mcp_filter_raw ({id})",
}


def filter_span_names(filters: Sequence[Any]) -> dict[str, str]:
    """Span names of the configured ``filters:`` by id (``execute_raw_filter (<id>)``)."""
    out: dict[str, str] = {}
    for spec in filters:
        pattern = _FILTER_SPAN_NAMES.get(getattr(spec, "type", ""), "filter ({id})")
        out[spec.id] = pattern.format(id=spec.id)
    return out
