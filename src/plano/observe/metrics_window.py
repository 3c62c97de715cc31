"""The last hour of requests in one-minute buckets per model: what
``GET /plano/v1/metrics/summary`` reports (rates, percentiles, tokens and cost over the
last N minutes), from every worker's buckets added together.

Pure: :class:`Window` takes what a request finished with and the time; :func:`summarise`
turns merged buckets into the summary's JSON.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from plano.observe.metrics import DURATION_BUCKETS, quantile

__all__ = ["KEEP_MINUTES", "Window", "merge_windows", "summarise"]

#: Minutes a window keeps (the summary's longest span).
KEEP_MINUTES = 60
_B = len(DURATION_BUCKETS) + 1
#: A bucket row: counts, token sums, cost, then the latency and TTFT histograms.
_REQ, _ERR, _FALL, _IN, _OUT, _CREAD, _CWRITE, _REASON, _COST = range(9)
_LAT = 9
_TTFT = _LAT + _B
_ROW = _TTFT + _B
_TOKENS = (
    ("input_tokens", _IN),
    ("output_tokens", _OUT),
    ("cache_read_tokens", _CREAD),
    ("cache_write_tokens", _CWRITE),
    ("reasoning_tokens", _REASON),
)
#: ``(minute, provider, model)`` -> row.
Buckets = dict[tuple[int, str, str], list[Any]]


def _row() -> list[Any]:
    row: list[Any] = [0] * _ROW
    row[_COST] = Decimal(0)
    return row


class Window:
    """Per-minute rows per ``(provider, model)``, the last :data:`KEEP_MINUTES` kept."""

    __slots__ = ("_last", "rows")

    def __init__(self) -> None:
        self.rows: Buckets = {}
        self._last = 0

    def add(
        self,
        now: float,
        provider: str,
        model: str,
        error: bool,
        fallback: bool,
        seconds: float,
        ttft: float | None,
        tokens: tuple[int, int, int, int, int] | None,
        cost: Decimal | None,
    ) -> None:
        minute = int(now // 60)
        if minute > self._last:
            self._last = minute
            self._prune(minute)
        elif minute <= self._last - KEEP_MINUTES:
            return  # older than the window keeps (a clock stepped back)
        key = (minute, provider, model)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = _row()
        row[_REQ] += 1
        if error:
            row[_ERR] += 1
        if fallback:
            row[_FALL] += 1
        if tokens is not None:
            for i, n in enumerate(tokens):
                row[_IN + i] += n
        if cost is not None:
            row[_COST] += cost
        row[_LAT + _bucket(seconds)] += 1
        if ttft is not None:
            row[_TTFT + _bucket(ttft)] += 1

    def _prune(self, minute: int) -> None:
        old = minute - KEEP_MINUTES
        for key in [k for k in self.rows if k[0] <= old]:
            del self.rows[key]

    def dump(self) -> list[list[Any]]:
        return [
            [list(k), [*row[:_COST], str(row[_COST]), *row[_COST + 1 :]]]
            for k, row in self.rows.items()
        ]

    @staticmethod
    def load(raw: Iterable[list[Any]]) -> Buckets:
        out: Buckets = {}
        for (minute, provider, model), row in raw:
            row = list(row)
            row[_COST] = Decimal(row[_COST])
            out[(int(minute), str(provider), str(model))] = row
        return out


def _bucket(seconds: float) -> int:
    return bisect_left(DURATION_BUCKETS, seconds)


def merge_windows(parts: Iterable[Buckets]) -> Buckets:
    out: Buckets = {}
    for part in parts:
        for key, row in part.items():
            have = out.get(key)
            if have is None:
                out[key] = list(row)
            else:
                for i, v in enumerate(row):
                    have[i] += v
    return out


def _percentiles(counts: list[Any]) -> dict[str, float | None] | None:
    if not any(counts):
        return None
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        v = quantile(q, DURATION_BUCKETS, counts)
        out[name] = None if v is None else round(v * 1000, 2)
    return out


def _stats(row: list[Any], seconds: float) -> dict[str, Any]:
    n = row[_REQ]
    out: dict[str, Any] = {
        "requests": n,
        "errors": row[_ERR],
        "fallbacks": row[_FALL],
        "request_rate": round(n / seconds, 4) if seconds else 0.0,
        "error_rate": round(row[_ERR] / n, 4) if n else 0.0,
        "fallback_rate": round(row[_FALL] / n, 4) if n else 0.0,
        "latency_ms": _percentiles(row[_LAT:_TTFT]),
        "ttft_ms": _percentiles(row[_TTFT:_ROW]),
    }
    for name, i in _TOKENS:
        out[name] = row[i]
    cost: Decimal = row[_COST]
    out["cost_usd"] = format(cost.normalize(), "f") if cost else "0"
    return out


def _sum_into(acc: list[Any], row: list[Any]) -> None:
    for i, v in enumerate(row):
        acc[i] += v


def summarise(buckets: Buckets, now: float, minutes: int) -> dict[str, Any]:
    """``totals``, ``models`` and the per-minute ``series`` of the last ``minutes`` minutes
    (the current, partial minute included)."""
    current = int(now // 60)
    first = current - minutes + 1
    seconds = float((minutes - 1) * 60) + (now - current * 60)
    total = _row()
    per_model: dict[tuple[str, str], list[Any]] = {}
    per_minute: dict[int, dict[str, list[Any]]] = {}
    for (minute, provider, model), row in buckets.items():
        if minute < first or minute > current:
            continue
        _sum_into(total, row)
        _sum_into(per_model.setdefault((provider, model), _row()), row)
        _sum_into(per_minute.setdefault(minute, {}).setdefault(model, _row()), row)
    models = [
        {"provider": p, "model": m, **_stats(row, seconds)}
        for (p, m), row in sorted(per_model.items(), key=lambda kv: -kv[1][_REQ])
    ]
    return {
        "window_minutes": minutes,
        "totals": _stats(total, seconds),
        "models": models,
        "series": [_minute(minute, per_minute[minute]) for minute in sorted(per_minute)],
    }


def _minute(minute: int, rows: Mapping[str, list[Any]]) -> dict[str, Any]:
    acc = _row()
    by_model: dict[str, Any] = {}
    for model, row in rows.items():
        _sum_into(acc, row)
        by_model[model] = {
            "requests": row[_REQ],
            "errors": row[_ERR],
            "tokens": sum(row[i] for _, i in _TOKENS),
            "cost_usd": format(row[_COST].normalize(), "f") if row[_COST] else "0",
        }
    return {
        "ts": minute * 60,
        "requests": acc[_REQ],
        "errors": acc[_ERR],
        "fallbacks": acc[_FALL],
        "input_tokens": acc[_IN],
        "output_tokens": acc[_OUT],
        "cost_usd": format(acc[_COST].normalize(), "f") if acc[_COST] else "0",
        "by_model": by_model,
    }
