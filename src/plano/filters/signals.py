"""Agentic signals off the hot path: :class:`SignalsFilter` takes a bounded copy of each
answered conversation in ``on_complete`` and hands it to the process's :class:`SignalDesk`,
whose task analyses batches on its own thread (the analysis is O(size) Python) and keeps the
results: totals for the metrics, a window of recent reports for
``GET /plano/v1/signals/summary``, and the reports themselves for whoever subscribed (span
attributes: :func:`plano.signals.signals_attributes`).

The request never waits: the copy is bounded by :class:`plano.signals.Limits`, the queue by
``capacity`` (past it a conversation is dropped and counted). ``overrides.disable_signals``
leaves the filter out of every chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from plano.config import PlanoConfig
from plano.core.model import (
    ChatResponse,
    Message,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)
from plano.filters.signals_summary import Entry, SignalTotals, SignalWindow
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.signals import (
    CATEGORIES,
    LEAVES,
    QUALITIES,
    Limits,
    Memo,
    Settings,
    SignalReport,
    Transcript,
    analyze,
    transcript,
)

__all__ = [
    "METRIC_ANALYSES",
    "METRIC_DROPPED",
    "METRIC_FLAGGED",
    "METRIC_SIGNALS",
    "SignalDesk",
    "SignalJob",
    "SignalsFilter",
    "signals_enabled",
    "signals_report",
]

log = logging.getLogger("plano.signals")

METRIC_ANALYSES = "plano_signal_analyses_total"
METRIC_SIGNALS = "plano_signals_total"
METRIC_FLAGGED = "plano_signal_flagged_total"
METRIC_DROPPED = "plano_signal_dropped_total"


def signals_enabled(config: PlanoConfig) -> bool:
    """Plano's ``overrides.disable_signals``: analysis is on unless it is set."""
    return not (config.overrides is not None and config.overrides.disable_signals)


@dataclass(slots=True)
class SignalJob:
    request_id: str
    trace_id: str
    model: str
    transcript: Transcript
    at: float
    #: Set once, by whichever thread analysed it first (the desk's, or the tracer's).
    report: SignalReport | None = None
    #: Counted in the totals and the window (on the event loop, once).
    recorded: bool = False
    #: The desk it was submitted to.
    desk: SignalDesk | None = field(default=None, repr=False, compare=False)
    #: The client's ``x-request-id`` (``request_id`` is Plano's own).
    client_request_id: str | None = None


class MetricSink(Protocol):
    """What the desk needs of a metrics registry (``plano.observe.metrics``)."""

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Any: ...

    def collector(self, key: str, collect: Callable[[], None]) -> None: ...


_LIMITS = Limits()
_SETTINGS = Settings()


class SignalDesk:
    """The process's signal analysis (it outlives config reloads): a bounded queue, one
    background task feeding one worker thread, the results."""

    def __init__(
        self,
        *,
        capacity: int = 1024,
        batch: int = 64,
        interval: float = 0.2,
        window: int = 1000,
        limits: Limits = _LIMITS,
        settings: Settings = _SETTINGS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.capacity = capacity
        self.batch = batch
        self.interval = interval
        self.limits = limits
        self.settings = settings
        self.totals = SignalTotals()
        self.window = SignalWindow(window)
        self._clock = clock
        self._queue: deque[SignalJob] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._subscribers: list[Callable[[SignalJob, SignalReport], None]] = []
        #: Per-message results by text, one memo per thread that analyses.
        self._local = threading.local()
        self._claim = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ---------------------------------------------------------------- intake (event loop)
    def submit(self, job: SignalJob) -> bool:
        """Queue a conversation; ``False`` when the queue is full (dropped, counted)."""
        if self._closed or len(self._queue) >= self.capacity:
            self.totals.dropped += 1
            return False
        self._queue.append(job)
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name="signals")
        self._wake.set()
        return True

    def now(self) -> float:
        return self._clock()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def subscribe(self, fn: Callable[[SignalJob, SignalReport], None]) -> None:
        """Call ``fn`` on the event loop with each report as it is counted (a log, a live
        view). It must be cheap; an exception is logged and ignored."""
        self._subscribers.append(fn)

    # ---------------------------------------------------------------- the batch
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # let a batch gather
            while self._queue:
                n = min(len(self._queue), self.batch)
                try:
                    await self._analyze([self._queue.popleft() for _ in range(n)])
                except Exception:  # a bug in one batch must not stop signals for good
                    log.exception("signal batch failed")

    async def _analyze(self, jobs: list[SignalJob]) -> None:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="plano-signals")
        started = time.perf_counter()
        reports = await asyncio.get_running_loop().run_in_executor(
            self._thread, self._batch_reports, jobs
        )
        self.totals.seconds += time.perf_counter() - started
        for job, report in zip(jobs, reports, strict=True):
            self._record(job, report)

    def _batch_reports(self, jobs: list[SignalJob]) -> list[SignalReport | None]:
        out: list[SignalReport | None] = []
        for job in jobs:
            out.append(self.report_of(job))
            time.sleep(0)  # hand the GIL to the event loop between conversations
        return out

    def report_of(self, job: SignalJob) -> SignalReport | None:
        """The job's report, analysed now unless a thread already did (any thread but the
        event loop's: the desk's worker, the tracer's batch); ``None`` if analysis failed."""
        if job.report is not None:
            return job.report
        memo: Memo | None = getattr(self._local, "memo", None)
        if memo is None:
            memo = self._local.memo = Memo()
        try:
            report = analyze(job.transcript, self.settings, memo)
        except Exception:  # one odd conversation must not stop the others
            log.exception("signal analysis failed for %s", job.request_id)
            return None
        with self._claim:
            if job.report is None:
                job.report = report
            return job.report

    def report_and_count(self, job: SignalJob) -> SignalReport | None:
        """:meth:`report_of`, then counted on the event loop (from another thread)."""
        report = self.report_of(job)
        if report is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to count
                self._loop.call_soon_threadsafe(self._record, job, report)
        return report

    def _record(self, job: SignalJob, report: SignalReport | None) -> None:
        if job.recorded:
            return
        job.recorded = True
        if report is None:
            self.totals.failed += 1
            return
        self.totals.add(report)
        self.window.add(
            Entry(job.request_id, job.trace_id, job.model, job.at, report, job.client_request_id)
        )
        for fn in self._subscribers:
            try:
                fn(job, report)
            except Exception:
                log.exception("signals subscriber failed")

    async def drain(self) -> None:
        """Analyse everything queued now (tests, shutdown)."""
        jobs = list(self._queue)
        self._queue.clear()
        if jobs:
            await self._analyze(jobs)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None

    # ---------------------------------------------------------------- results
    def summary(self, *, enabled: bool = True, recent: int = 20) -> dict[str, Any]:
        """The JSON of ``GET /plano/v1/signals/summary`` (``docs/signals.md``)."""
        return {
            "enabled": enabled,
            **self.window.summary(recent),
            "totals": self.totals.to_json(self.queued),
        }

    def bind_metrics(self, registry: MetricSink) -> None:
        """Register the signal families on ``registry``; their values are set from
        :attr:`totals` each time the registry takes a snapshot."""
        analyses = registry.counter(
            METRIC_ANALYSES, "Conversations analysed for signals, by quality band.", ("quality",)
        )
        signals = registry.counter(
            METRIC_SIGNALS,
            "Signal instances detected, by layer, category and type.",
            ("layer", "category", "type"),
        )
        flagged = registry.counter(METRIC_FLAGGED, "Conversations flagged by their signals.")
        dropped = registry.counter(
            METRIC_DROPPED, "Conversations not analysed because the signal queue was full."
        )

        def collect() -> None:
            t = self.totals
            for q in QUALITIES:
                analyses.set((q,), t.by_quality[q])
            for c in CATEGORIES:
                for leaf in LEAVES[c.key]:
                    signals.set((c.layer, c.name, leaf), t.by_type[f"{c.key}.{leaf}"])
            flagged.set((), t.flagged)
            dropped.set((), t.dropped)

        registry.collector("signals", collect)


class _StreamAnswer:
    """A streamed answer's text and tool calls, bounded, as the client got them."""

    __slots__ = ("calls", "cap", "chars", "text")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.text: list[str] = []
        self.chars = 0
        self.calls: dict[int, list[str]] = {}  # tool_index -> [name, args...]

    def feed(self, ev: StreamEvent) -> None:
        if type(ev) is TextDelta:
            if ev.index == 0 and self.chars < self.cap:
                self.text.append(ev.text)
                self.chars += len(ev.text)
        elif type(ev) is ToolCallDelta and ev.index == 0:
            call = self.calls.get(ev.tool_index)
            if call is None:
                if len(self.calls) >= 64:
                    return
                call = self.calls[ev.tool_index] = [ev.name or "", ""]
            elif ev.name and not call[0]:
                call[0] = ev.name
            if len(call[1]) < self.cap:
                call[1] += ev.arguments

    def message(self) -> Message:
        text = "".join(self.text)[: self.cap]
        calls = [ToolCall("", name, args) for name, args in self.calls.values()]
        return Message("assistant", [TextPart(text)] if text else [], calls)


class SignalsFilter(Filter):
    """Last in every model chain (it sees the answer the client got)."""

    name: ClassVar[str] = "signals"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, desk: SignalDesk) -> None:
        self.desk = desk

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        ctx.state[self.name] = resp  # a reference; copied (bounded) in on_complete

    def on_stream_seen(self, ctx: RequestContext, ev: StreamEvent) -> None:
        answer = ctx.state.get(self.name)
        if answer is None:
            answer = ctx.state[self.name] = _StreamAnswer(self.desk.limits.max_chars)
        answer.feed(ev)

    async def on_complete(self, ctx: RequestContext) -> None:
        if ctx.request is None or ctx.status >= 400 or ctx.hop != "client":
            return
        if "plano_internal" in ctx.labels:  # the gateway asking a model (preference router)
            return
        got = ctx.state.pop(self.name, None)
        answer: Message | ChatResponse | None
        answer = got.message() if isinstance(got, _StreamAnswer) else got
        dep = ctx.deployment
        job = SignalJob(
            ctx.request_id,
            ctx.trace.trace_id,
            dep.metric_key if dep is not None else "",
            transcript(ctx.request, answer, self.desk.limits),
            self.desk.now(),
            client_request_id=ctx.client_request_id,
        )
        job.desk = self.desk
        ctx.state[self.name] = job  # for the span enricher (signals_report)
        self.desk.submit(job)


def signals_report(ctx: RequestContext) -> SignalReport | None:
    """For a span enricher, in the tracer's batch thread: the signals of the request ``ctx``
    (analysed now if its desk has not done it yet; counted once, on the event loop);
    ``None`` when the request was not analysed (signals off, a failed request)."""
    job = ctx.state.get(SignalsFilter.name)
    if not isinstance(job, SignalJob) or job.desk is None:
        return None
    return job.desk.report_and_count(job)
