"""The usage table's SQL, for both dialects, as pure functions: records to rows and back,
filters to a parameterised ``WHERE``, the group-by allow-list, the opaque paging cursor.

No SQL is ever built from a client's strings: filter values are parameters, and grouping
columns come from :data:`GROUPS` by name (an unknown name is a 400).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import orjson

from plano.errors import InvalidRequest
from plano.store.migrations import Dialect
from plano.store.protocols import UsageQuery

__all__ = [
    "ATTRIBUTION",
    "COLUMNS",
    "GROUPS",
    "MAX_PAGE",
    "Params",
    "decode_cursor",
    "encode_cursor",
    "group_exprs",
    "record_from_row",
    "row_from_record",
    "where",
]

#: The columns of a usage record, in table order: the keys of ``UsageRecord.to_json()`` plus
#: ``session``. A record's other keys are kept in the ``extra`` JSON column.
COLUMNS: tuple[str, ...] = (
    "request_id",
    "ts",
    "shape",
    "model_requested",
    "provider",
    "model",
    "status",
    "stream",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "cost_usd",
    "total_ms",
    "overhead_ms",
    "ttft_ms",
    "attempts",
    "error",
    "principal",
    "session",
    # Cost attribution (migration 0005).
    "key_id",
    "user_id",
    "team",
    "tenant",
    "agent",
    "route",
    "trace_id",
    # The client's x-request-id (migration 0006); request_id is always the gateway's own.
    "client_request_id",
)
#: Filters and group-by names of the attribution columns (the API's name -> the column).
ATTRIBUTION: dict[str, str] = {
    "key": "key_id",
    "user": "user_id",
    "team": "team",
    "tenant": "tenant",
    "agent": "agent",
    "route": "route",
    "trace": "trace_id",
}
_KNOWN = frozenset(COLUMNS)
_OPTIONAL = (*ATTRIBUTION.values(), "client_request_id")
_BOOLS = ("stream", "usage_estimated")
TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
#: Defaults for the NOT NULL columns a record may leave out.
_DEFAULTS: dict[str, Any] = {
    "shape": "",
    "model_requested": "",
    "provider": "",
    "model": "",
    "stream": False,
    "total_ms": 0.0,
    "overhead_ms": 0.0,
    "attempts": 1,
}
MAX_PAGE = 1000
_WITH_DEFAULTS = tuple((c, _DEFAULTS.get(c)) for c in COLUMNS)
_TS = COLUMNS.index("ts")
_BOOL_AT = tuple(COLUMNS.index(c) for c in _BOOLS)
_PICO = Decimal(10) ** 12

_DAY = {
    "sqlite": "strftime('%Y-%m-%d', ts, 'unixepoch')",
    "postgres": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
_HOUR = {
    "sqlite": "strftime('%Y-%m-%dT%H:00Z', ts, 'unixepoch')",
    "postgres": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:00\"Z\"')",
}
_STATUS_CLASS = {
    "sqlite": "(status / 100) || 'xx'",
    "postgres": "(status / 100)::text || 'xx'",
}
_PLAIN = ("provider", "model", "model_requested", "shape", "principal", "session", "error")
#: Group-by names and their SQL, per dialect: the only SQL a caller can choose.
GROUPS: dict[str, dict[Dialect, str]] = {
    **{name: {"sqlite": name, "postgres": name} for name in _PLAIN},
    "status": {"sqlite": "status", "postgres": "status"},
    "status_class": {"sqlite": _STATUS_CLASS["sqlite"], "postgres": _STATUS_CLASS["postgres"]},
    "stream": {"sqlite": "stream", "postgres": "stream"},
    "day": {"sqlite": _DAY["sqlite"], "postgres": _DAY["postgres"]},
    "hour": {"sqlite": _HOUR["sqlite"], "postgres": _HOUR["postgres"]},
    **{name: {"sqlite": col, "postgres": col} for name, col in ATTRIBUTION.items()},
}


@dataclass(slots=True)
class Params:
    """Collects parameter values; :meth:`add` returns the placeholder for the dialect."""

    dialect: Dialect
    values: list[Any] = field(default_factory=list)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def cost_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"cost_usd {value!r} is not a decimal") from exc
    if not cost.is_finite():
        raise ValueError(f"cost_usd {value!r} is not finite")
    return cost


def pico(cost: Decimal | None) -> int | None:
    """The cost in 1e-12 USD (finer digits rounded: far below any price)."""
    if cost is None:
        return None
    return int((cost * _PICO).to_integral_value(ROUND_HALF_EVEN))


def from_pico(hi_micro: int, lo_pico: int) -> Decimal:
    """A sum split as whole micro-dollars and the pico-dollars below them (see the SQLite
    totals query: the split keeps each SQL sum far from 64-bit overflow)."""
    return (Decimal(hi_micro) * 1_000_000 + Decimal(lo_pico)) / _PICO


def row_from_record(r: Mapping[str, Any]) -> tuple[list[Any], Decimal | None, str | None]:
    """``(values in COLUMNS order, cost, extra JSON)``; raises ValueError on a record that
    cannot be stored (no request id, no time or status)."""
    rid = r.get("request_id")
    if not isinstance(rid, str) or not rid:
        raise ValueError("a usage record needs a request_id")
    ts = r.get("ts")
    if not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueError(f"usage record {rid}: ts must be epoch seconds")
    if not isinstance(r.get("status"), int):
        raise ValueError(f"usage record {rid}: status must be an integer")
    cost = cost_decimal(r.get("cost_usd"))
    get = r.get
    values = [get(c, d) for c, d in _WITH_DEFAULTS]
    values[_TS] = float(ts)
    for i in _BOOL_AT:
        if values[i] is not None:
            values[i] = bool(values[i])
    extra = None if _KNOWN.issuperset(r) else {k: v for k, v in r.items() if k not in _KNOWN}
    return values, cost, orjson.dumps(extra).decode() if extra else None


def record_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """A stored row (``COLUMNS`` then ``extra``) as the record that was appended."""
    d = dict(zip(COLUMNS, row, strict=False))
    for name in _BOOLS:
        if d[name] is not None:
            d[name] = bool(d[name])
    if d["cost_usd"] is not None:
        d["cost_usd"] = str(d["cost_usd"])
    for name in _OPTIONAL:  # as the record had them: present only when set
        if d.get(name, "") is None:
            del d[name]
    extra = row[len(COLUMNS)] if len(row) > len(COLUMNS) else None
    if extra:
        d.update(orjson.loads(extra))
    return d


def encode_cursor(ts: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, request_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, rid = orjson.loads(raw)
        if isinstance(ts, int | float) and isinstance(rid, str):
            return float(ts), rid
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        pass
    raise InvalidRequest("The paging cursor is not valid.", param="cursor")


def where(q: UsageQuery, params: Params, *, paging: bool) -> str:
    """The ``WHERE`` clause (or ``""``) selecting what ``q`` asks; values go to ``params``."""
    conds: list[str] = []
    if q.since is not None:
        conds.append(f"ts >= {params.add(float(q.since))}")
    if q.until is not None:
        conds.append(f"ts < {params.add(float(q.until))}")
    for name in ("provider", "model", "principal", "session", *ATTRIBUTION.values()):
        value = getattr(q, name)
        if value is not None:
            conds.append(f"{name} = {params.add(value)}")
    if q.status_min is not None:
        conds.append(f"status >= {params.add(int(q.status_min))}")
    if paging and q.cursor:
        ts, rid = decode_cursor(q.cursor)
        conds.append(f"(ts, request_id) < ({params.add(ts)}, {params.add(rid)})")
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def group_exprs(by: Sequence[str], dialect: Dialect) -> list[tuple[str, str]]:
    """``(name, SQL expression)`` per requested group, from the allow-list only."""
    out: list[tuple[str, str]] = []
    for name in by:
        sql = GROUPS.get(name)
        if sql is None:
            allowed = ", ".join(sorted(GROUPS))
            raise InvalidRequest(f"Cannot group usage by {name!r}; use {allowed}.", param="by")
        if all(name != seen for seen, _ in out):
            out.append((name, sql[dialect]))
    return out


def page_limit(q: UsageQuery) -> int:
    return max(1, min(int(q.limit), MAX_PAGE))
