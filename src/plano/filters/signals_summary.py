"""What ``GET /plano/v1/signals/summary`` answers: recent analyses kept in a ring, totals
since the process started. Pure bookkeeping (no IO, no clock: times are passed in).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from plano.signals import CATEGORIES, LEAVES, QUALITIES, SignalReport

__all__ = ["Entry", "SignalTotals", "SignalWindow"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One analysed request, as the summary keeps it (no text)."""

    request_id: str
    trace_id: str
    #: The deployment that answered (its config key, ``provider/*`` for a wildcard).
    model: str
    at: float
    report: SignalReport
    #: The client's ``x-request-id`` (``request_id`` is Plano's own).
    client_request_id: str | None = None


class SignalTotals:
    """Counts since the process started: what the metrics families report."""

    __slots__ = ("analyzed", "by_quality", "by_type", "dropped", "failed", "flagged", "seconds")

    def __init__(self) -> None:
        self.analyzed = 0
        self.flagged = 0
        self.dropped = 0
        self.failed = 0
        #: Seconds spent analysing (in the background thread).
        self.seconds = 0.0
        self.by_quality: Counter[str] = Counter()
        #: Instances by full dotted type (``interaction.disengagement.escalation``).
        self.by_type: Counter[str] = Counter()

    def add(self, report: SignalReport) -> None:
        self.analyzed += 1
        self.flagged += report.flagged
        self.by_quality[report.quality] += 1
        for s in report.signals:
            self.by_type[s.type] += 1

    def to_json(self, queued: int) -> dict[str, Any]:
        return {
            "analyzed": self.analyzed,
            "flagged": self.flagged,
            "dropped": self.dropped,
            "failed": self.failed,
            "queued": queued,
            "analysis_ms_mean": round(1000 * self.seconds / self.analyzed, 3)
            if self.analyzed
            else None,
        }


class SignalWindow:
    """The last ``capacity`` analyses, with their counts kept up to date as reports come
    in and fall out (a summary reads counters, not every report's signals)."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._ring: deque[Entry] = deque()
        self._quality: Counter[str] = Counter()
        self._flagged = 0
        #: Per category (in :data:`CATEGORIES` order): requests that fired it, instances,
        #: requests by severity; instances by full type.
        self._requests = [0] * len(CATEGORIES)
        self._signals = [0] * len(CATEGORIES)
        self._severity: list[Counter[int]] = [Counter() for _ in CATEGORIES]
        self._types: Counter[str] = Counter()

    def add(self, entry: Entry) -> None:
        if len(self._ring) >= self.capacity:
            self._count(self._ring.popleft().report, -1)
        self._ring.append(entry)
        self._count(entry.report, 1)

    def _count(self, r: SignalReport, sign: int) -> None:
        self._quality[r.quality] += sign
        self._flagged += sign * r.flagged
        for i, c in enumerate(r.categories):
            if c.count:
                self._requests[i] += sign
                self._signals[i] += sign * c.count
                self._severity[i][c.severity] += sign
        for s in r.signals:
            self._types[s.type] += sign

    def __len__(self) -> int:
        return len(self._ring)

    def find(self, request_id: str) -> Entry | None:
        """By Plano's request id, else by a client's ``x-request-id`` (the newest)."""
        for e in reversed(self._ring):
            if e.request_id == request_id:
                return e
        for e in reversed(self._ring):
            if e.client_request_id == request_id:
                return e
        return None

    def summary(self, recent: int = 20) -> dict[str, Any]:
        entries = self._ring
        flagged: list[dict[str, Any]] = []
        for e in reversed(entries):
            if len(flagged) >= recent:
                break
            if e.report.flagged:
                flagged.append(_entry(e))
        return {
            "window": {
                "requests": len(entries),
                "capacity": self.capacity,
                "oldest": entries[0].at if entries else None,
                "newest": entries[-1].at if entries else None,
            },
            "quality": {q: self._quality[q] for q in QUALITIES},
            "quality_score": _stats([e.report.quality_score for e in entries]),
            "turn_count": _stats([float(e.report.turn_count) for e in entries]),
            "efficiency_score": _stats([e.report.efficiency_score for e in entries]),
            "flagged": self._flagged,
            "categories": {
                c.key: {
                    "requests": self._requests[i],
                    "signals": self._signals[i],
                    "severity": {str(level): self._severity[i][level] for level in (1, 2, 3)},
                    "types": {leaf: self._types[f"{c.key}.{leaf}"] for leaf in LEAVES[c.key]},
                }
                for i, c in enumerate(CATEGORIES)
            },
            "recent_flagged": flagged,
        }


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None, "min": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)
    return {
        "mean": round(sum(ordered) / n, 4),
        "p50": round(ordered[(n - 1) // 2], 4),
        "p95": round(ordered[min(n - 1, int(0.95 * n))], 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
    }


def _entry(e: Entry) -> dict[str, Any]:
    r = e.report
    return {
        "request_id": e.request_id,
        "client_request_id": e.client_request_id,
        "trace_id": e.trace_id,
        "model": e.model,
        "at": e.at,
        "quality": r.quality,
        "quality_score": round(r.quality_score, 2),
        "turn_count": r.turn_count,
        "categories": {c.category.key: c.count for c in r.categories if c.count},
        "types": sorted({s.type for s in r.signals}),
    }
