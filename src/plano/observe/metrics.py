"""The metrics registry: plain in-process counters, gauges and histograms, rendered in the
Prometheus text format at scrape time.

Updating a series is one dict operation (no locks, no IO): the gateway updates its series
off the request's task, in ``on_complete``. Label sets are fixed per family (``labelnames``)
and values are passed as a tuple in that order; callers pass only values the config or the
code fixes (never a client's string).

Several workers: each process's :meth:`MetricsRegistry.snapshot` is a plain JSON-able value;
:func:`merge` adds snapshots together (counters and histograms summed, gauges summed or the
largest, by the family's ``merge``) and :func:`render` writes the merged values
(``observe/metrics_share.py`` moves the snapshots between processes).

Registering a family is one line::

    LOOPS = registry.counter("plano_signal_loops_total", "Loops detected.", ("kind",))
    LOOPS.inc(("retry",))
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeAlias

__all__ = [
    "DURATION_BUCKETS",
    "Counter",
    "Family",
    "Gauge",
    "Histogram",
    "Labels",
    "MetricsRegistry",
    "Snapshot",
    "merge",
    "quantile",
    "render",
]

Labels: TypeAlias = tuple[str, ...]
#: How a gauge's values from several processes combine: ``sum`` (in-flight requests),
#: ``max`` (an open breaker in any worker), ``min`` (a store any worker found down),
#: ``local`` (read at scrape time by the scraping process alone: the value is shared
#: already, e.g. a budget's spend in the hot store).
Merge: TypeAlias = Literal["sum", "max", "min", "local"]
Snapshot: TypeAlias = dict[str, Any]

log = logging.getLogger("plano.metrics")

#: Seconds; fine enough for p50/p95/p99 of gateway overhead and model latency alike.
DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75,
    1.0, 1.5, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip


class Counter:
    """A monotonic total per label set. ``exact`` families keep :class:`Decimal` values
    (money)."""

    kind = "counter"
    merge: Merge = "sum"
    __slots__ = ("exact", "help", "labelnames", "name", "values")

    def __init__(self, name: str, help: str, labelnames: Labels, exact: bool = False) -> None:
        self.name = name
        self.help = help
        self.labelnames = labelnames
        self.exact = exact
        self.values: dict[Labels, Any] = {}

    def inc(self, labels: Labels = (), amount: float | int | Decimal = 1) -> None:
        v = self.values
        v[labels] = v.get(labels, 0) + amount

    def set(self, labels: Labels, value: float | int | Decimal) -> None:
        """A total kept elsewhere (read by a collector at snapshot time)."""
        self.values[labels] = value

    def dump(self) -> list[list[Any]]:
        return [[list(k), str(v) if self.exact else v] for k, v in self.values.items()]

    def load(self, value: Any) -> Any:
        return Decimal(value) if self.exact else value


class Gauge(Counter):
    """A value that goes up and down (set by a collector at snapshot time, usually)."""

    kind = "gauge"
    __slots__ = ("merge",)

    def __init__(self, name: str, help: str, labelnames: Labels, merge: Merge = "sum") -> None:
        super().__init__(name, help, labelnames)
        self.merge = merge

    def clear(self) -> None:
        self.values.clear()


class Histogram:
    """Observations counted in fixed buckets; each series is a list of per-bucket counts
    (the last for +Inf) followed by the sum."""

    kind = "histogram"
    merge: Merge = "sum"
    exact = False
    __slots__ = ("buckets", "help", "labelnames", "name", "values")

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Labels,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        self.name = name
        self.help = help
        self.labelnames = labelnames
        self.buckets = tuple(buckets)
        self.values: dict[Labels, list[float]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        row = self.values.get(labels)
        if row is None:
            row = self.values[labels] = [0] * (len(self.buckets) + 1) + [0.0]
        row[bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def dump(self) -> list[list[Any]]:
        return [[list(k), v] for k, v in self.values.items()]

    def load(self, value: Any) -> Any:
        return value


Family: TypeAlias = Counter | Gauge | Histogram


class MetricsRegistry:
    """The process's metric families, and collectors that fill gauges when a snapshot is
    taken (keyed by name: a reload replaces its runtime's collector)."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self._collectors: dict[str, Callable[[], None]] = {}
        self._async: dict[str, Callable[[], Awaitable[None]]] = {}

    def _add(self, family: Family) -> Any:
        have = self.families.get(family.name)
        if have is not None:
            if type(have) is not type(family) or have.labelnames != family.labelnames:
                raise ValueError(f"metric {family.name} is already registered differently")
            return have  # one registration per process, however many chains ask
        self.families[family.name] = family
        return family

    def counter(self, name: str, help: str, labels: Labels = (), *, exact: bool = False) -> Counter:
        c: Counter = self._add(Counter(name, help, labels, exact))
        return c

    def gauge(self, name: str, help: str, labels: Labels = (), *, merge: Merge = "sum") -> Gauge:
        g: Gauge = self._add(Gauge(name, help, labels, merge))
        return g

    def histogram(
        self, name: str, help: str, labels: Labels = (), buckets: Sequence[float] = DURATION_BUCKETS
    ) -> Histogram:
        h: Histogram = self._add(Histogram(name, help, labels, buckets))
        return h

    def collector(self, key: str, collect: Callable[[], None]) -> None:
        """Run ``collect`` before each snapshot (it sets gauges from live state)."""
        self._collectors[key] = collect

    def async_collector(self, key: str, collect: Callable[[], Awaitable[None]]) -> None:
        """Run ``collect`` when this process is scraped (it reads a shared store; its
        gauges should be ``merge="local"``)."""
        self._async[key] = collect

    def collect(self) -> None:
        for fn in list(self._collectors.values()):
            fn()

    async def collect_async(self, within: float = 0.5) -> None:
        """The scrape-time collectors, each bounded by ``within`` seconds (a store that
        does not answer leaves its gauges as they were)."""
        for key, fn in list(self._async.items()):
            try:
                async with asyncio.timeout(within):
                    await fn()
            except Exception as exc:  # a scrape must not fail for one collector
                log.warning("metrics collector %s failed: %r", key, exc)

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Every series' value as plain JSON values, after the collectors ran."""
        self.collect()
        return {
            "pid": os.getpid(),
            "ts": time.time() if now is None else now,
            "families": {n: f.dump() for n, f in self.families.items() if f.values},
        }


def merge(
    registry: MetricsRegistry,
    snapshots: Iterable[Snapshot],
    *,
    own: Snapshot | None = None,
    gauges_after: float = 0.0,
) -> dict[str, dict[Labels, Any]]:
    """The values of every family over ``own`` (this process, always counted whole) and
    other processes' ``snapshots``; other processes' gauges only from snapshots taken at or
    after ``gauges_after`` (a dead worker's in-flight requests are not in flight)."""
    out: dict[str, dict[Labels, Any]] = {name: {} for name in registry.families}
    for snap, mine in ((own, True), *((s, False) for s in snapshots)):
        if snap is None:
            continue
        fresh = mine or float(snap.get("ts", 0.0)) >= gauges_after
        for name, series in snap.get("families", {}).items():
            family = registry.families.get(name)
            if family is None:
                continue  # a family this process does not know (an older worker's)
            if family.kind == "gauge" and (not fresh or (family.merge == "local" and not mine)):
                continue
            _add_series(family, out[name], series)
    return out


def _add_series(family: Family, into: dict[Labels, Any], series: list[list[Any]]) -> None:
    for labels, raw in series:
        key = tuple(labels)
        value = family.load(raw)
        have = into.get(key)
        if have is None:
            into[key] = list(value) if isinstance(value, list) else value
        elif isinstance(have, list):
            for i, n in enumerate(value):
                have[i] += n
        elif family.merge == "max":
            into[key] = max(have, value)
        elif family.merge == "min":
            into[key] = min(have, value)
        else:
            into[key] = have + value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=False)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def render(registry: MetricsRegistry, values: Mapping[str, Mapping[Labels, Any]]) -> str:
    """The Prometheus text exposition format (0.0.4) of merged values."""
    lines: list[str] = []
    for name, family in list(registry.families.items()):  # a family may be added meanwhile
        lines.append(f"# HELP {name} {family.help}")
        lines.append(f"# TYPE {name} {family.kind}")
        series = values.get(name, {})
        names = family.labelnames
        for key in sorted(series):
            value = series[key]
            if isinstance(family, Histogram):
                lines.extend(_histogram_lines(family, key, value))
            else:
                lines.append(f"{name}{_labels(names, key)} {_number(value)}")
    lines.append("")
    return "\n".join(lines)


def _histogram_lines(h: Histogram, key: Labels, row: list[float]) -> list[str]:
    out = []
    total = 0
    for bound, n in zip((*h.buckets, math.inf), row[:-1], strict=True):
        total += int(n)
        le = 'le="' + ("+Inf" if math.isinf(bound) else repr(bound)) + '"'
        out.append(f"{h.name}_bucket{_labels(h.labelnames, key, le)} {total}")
    out.append(f"{h.name}_sum{_labels(h.labelnames, key)} {_number(float(row[-1]))}")
    out.append(f"{h.name}_count{_labels(h.labelnames, key)} {total}")
    return out


def quantile(q: float, buckets: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``q`` quantile of bucketed observations (``counts`` per bucket, +Inf last),
    interpolated inside its bucket as Prometheus' ``histogram_quantile`` does; ``None``
    without observations."""
    total = sum(counts[: len(buckets) + 1])
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, n in enumerate(counts[: len(buckets) + 1]):
        if n and seen + n >= rank:
            if i == len(buckets):
                return buckets[-1]  # in +Inf: the highest finite bound, as Prometheus does
            lower = buckets[i - 1] if i else 0.0
            return lower + (buckets[i] - lower) * (rank - seen) / n
        seen += n
    return buckets[-1]
