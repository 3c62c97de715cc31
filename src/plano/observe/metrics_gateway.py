"""The gateway's metric families (their names are the constants below, nowhere else), what
one finished request adds to them (:meth:`GatewayMetrics.record`), and the filter that calls
it in ``on_complete``, off the request's task.

Label values are fixed by the config or the code: listener names, client shapes, status
classes, error labels (``plano.errors``), deployment keys (``provider/*`` for any model a
wildcard serves, :class:`ModelLabels`), decision sources and actions. Never a client's string.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar, Final

from plano.observe.metrics import Labels, MetricsRegistry, Snapshot
from plano.observe.metrics_window import Window
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter

__all__ = [
    "ATTEMPTS",
    "COST",
    "DECISIONS",
    "FALLBACKS",
    "IN_FLIGHT",
    "OVERHEAD",
    "PROCESSES",
    "REQUESTS",
    "REQUEST_DURATION",
    "TOKENS",
    "TTFT",
    "UPSTREAM_DURATION",
    "GatewayMetrics",
    "MetricsFilter",
    "ModelLabels",
    "model_labels",
]

REQUESTS: Final = "plano_requests_total"
REQUEST_DURATION: Final = "plano_request_duration_seconds"
OVERHEAD: Final = "plano_overhead_seconds"
IN_FLIGHT: Final = "plano_requests_in_flight"
ATTEMPTS: Final = "plano_upstream_attempts_total"
UPSTREAM_DURATION: Final = "plano_upstream_duration_seconds"
TTFT: Final = "plano_time_to_first_token_seconds"
TOKENS: Final = "plano_tokens_total"
COST: Final = "plano_cost_usd_total"
FALLBACKS: Final = "plano_fallbacks_total"
DECISIONS: Final = "plano_decisions_total"
PROCESSES: Final = "plano_metrics_processes"

#: Requests no deployment answered (refused before routing, no route).
NO_MODEL = ("", "(none)")
_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
#: Longest decision source or action kept as a label (they are the code's and the config's
#: names; the cap only keeps a mistake from becoming a huge series).
_LABEL_CAP = 64


class ModelLabels:
    """``(provider, model)`` label values for a deployment key, from the config alone: a
    declared entry is its own key; a model a ``provider/*`` wildcard served is that
    wildcard's key; anything else is ``other``."""

    __slots__ = ("_known", "_wild")

    def __init__(self, entries: Iterable[tuple[str, str, bool]]) -> None:
        #: ``(key, provider, is_wildcard)`` per ``model_providers`` entry.
        self._known: dict[str, tuple[str, str]] = {}
        self._wild: dict[str, tuple[str, str]] = {}
        for key, provider, wildcard in entries:
            labels = (provider, key)
            self._known[key] = labels
            if wildcard:
                self._wild.setdefault(provider, labels)

    def __call__(self, key: str) -> tuple[str, str]:
        got = self._known.get(key)
        if got is not None:
            return got
        provider = key.split("/", 1)[0]
        wild = self._wild.get(provider)
        if wild is not None:
            return wild
        return ("other", "other")


class GatewayMetrics:
    """The process's registry with the gateway's families and the summary's window."""

    def __init__(self, registry: MetricsRegistry | None = None) -> None:
        r = self.registry = registry or MetricsRegistry()
        self.window = Window()
        self.requests = r.counter(
            REQUESTS,
            "Requests finished, by listener, client shape, status class and error label.",
            ("listener", "shape", "status", "error"),
        )
        self.duration = r.histogram(
            REQUEST_DURATION, "Whole requests as the client saw them, seconds.", ("listener",)
        )
        self.overhead = r.histogram(
            OVERHEAD, "Time Plano added to a request (all but the upstream wait), seconds.",
            ("listener",),
        )  # fmt: skip
        self.in_flight = r.gauge(IN_FLIGHT, "Requests being served, by listener.", ("listener",))
        self.attempts = r.counter(
            ATTEMPTS,
            "Upstream attempts, by provider, model (deployment) and outcome (ok or the error "
            "label).",
            ("provider", "model", "outcome"),
        )
        self.upstream = r.histogram(
            UPSTREAM_DURATION, "Upstream attempts, seconds.", ("provider", "model")
        )
        self.ttft = r.histogram(
            TTFT, "Time to the first token of streams, seconds.", ("provider", "model")
        )
        self.tokens = r.counter(
            TOKENS,
            "Tokens billed, by provider, model and kind (input, output, cache_read, "
            "cache_write, reasoning).",
            ("provider", "model", "kind"),
        )
        self.cost = r.counter(
            COST, "Cost in US dollars, by provider and model.", ("provider", "model"), exact=True
        )
        self.fallbacks = r.counter(
            FALLBACKS,
            "Attempts that failed and were followed by another, by the failed deployment and "
            "the error label.",
            ("provider", "model", "reason"),
        )
        self.decisions = r.counter(
            DECISIONS,
            "Filter and policy decisions (auth, policy:<name>, budget, rate_limit, pii...), "
            "by source and action.",
            ("source", "action"),
        )
        self._key_cache: dict[tuple[str, str], tuple[Labels, tuple[Labels, ...]]] = {}
        self.processes = r.gauge(
            PROCESSES, "Worker processes whose metrics this scrape adds up.", (), merge="local"
        )

    def _keys(self, pm: tuple[str, str]) -> tuple[Labels, tuple[Labels, ...]]:
        """The label tuples of a deployment's successful attempt and of its token kinds,
        made once (a request's recording then allocates almost nothing)."""
        got = self._key_cache.get(pm)
        if got is None:
            got = self._key_cache[pm] = ((*pm, "ok"), tuple((*pm, k) for k in _KINDS))
        return got

    def record(self, ctx: RequestContext, labels: ModelLabels, now: float | None = None) -> None:
        """What one finished request adds (``on_complete``; plain dict updates)."""
        listener = ctx.listener or "-"
        err = ctx.error.metric_label if ctx.error is not None else ""
        self.requests.inc((listener, ctx.shape, _CLASS.get(ctx.status // 100, "other"), err))
        lkey = (listener,)
        seconds = ctx.total_ms() / 1000
        self.duration.observe(lkey, seconds)
        self.overhead.observe(lkey, ctx.overhead_ms() / 1000)
        attempts = ctx.attempts
        fallback = False
        last = len(attempts) - 1
        for i, a in enumerate(attempts):
            pm = labels(a.deployment)
            if a.error is None:
                self.attempts.inc(self._keys(pm)[0])
            else:
                self.attempts.inc((*pm, a.error))
                if i < last:
                    fallback = True
                    self.fallbacks.inc((*pm, a.error))
            self.upstream.observe(pm, a.duration_ms / 1000)
        for d in ctx.decisions:
            self.decisions.inc((d.source[:_LABEL_CAP], d.action[:_LABEL_CAP]))
        dep = ctx.deployment
        pm = (dep.provider, dep.metric_key) if dep is not None else NO_MODEL
        ttft = None
        if ctx.first_token_ns and ctx.stream:
            ttft = (ctx.first_token_ns - ctx.started_ns) / 1e9
            self.ttft.observe(pm, ttft)
        u = ctx.usage
        tokens = None
        cost = ctx.cost
        if dep is not None:
            if u is not None:
                tokens = (
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_read_tokens,
                    u.cache_write_tokens,
                    u.reasoning_tokens,
                )
                values = self.tokens.values
                for key, n in zip(self._keys(pm)[1], tokens, strict=True):
                    if n:
                        values[key] = values.get(key, 0) + n
            if cost is not None:
                self.cost.inc(pm, cost)
        self.window.add(
            time.time() if now is None else now,
            pm[0],
            pm[1],
            ctx.status >= 400,
            fallback,
            seconds,
            ttft,
            tokens,
            cost,
        )

    def snapshot(self, now: float | None = None) -> Snapshot:
        snap = self.registry.snapshot(now)
        snap["window"] = self.window.dump()
        return snap


class MetricsFilter(Filter):
    """Counts each finished request into the process's :class:`GatewayMetrics`. It runs
    after accounting (usage and cost are settled by then)."""

    name: ClassVar[str] = "metrics"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, metrics: GatewayMetrics, labels: ModelLabels) -> None:
        self.metrics = metrics
        self.labels = labels

    async def on_complete(self, ctx: RequestContext) -> None:
        self.metrics.record(ctx, self.labels)


def model_labels(providers: Iterable[Any]) -> ModelLabels:
    """:class:`ModelLabels` from the config's ``model_providers`` entries."""
    return ModelLabels((p.effective_name, p.provider, p.is_wildcard) for p in providers)
