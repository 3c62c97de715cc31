"""The recent traces the gateway keeps itself: a request's spans as one stored part (pure),
and the reads ``/plano/v1/traces`` and ``plano trace`` make (through :class:`TraceLog`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from plano.config.units import parse_duration
from plano.errors import InvalidRequest
from plano.pipeline.context import ANONYMOUS, RequestContext
from plano.store.traces import TraceLog, TraceQuery, clamp_limit

from .spans import Span

__all__ = ["get_trace", "list_traces", "parse_since", "part_record", "trace_query"]


def part_record(ctx: RequestContext, spans: Sequence[Span]) -> dict[str, Any]:
    """The stored part of ``ctx``'s trace: summary columns and the spans as JSON."""
    top = spans[0]
    dep = ctx.deployment
    u = ctx.usage
    errors = sum(1 for s in spans if s.is_error)
    return {
        "trace_id": top.trace_id,
        "part_id": top.span_id,
        "parent_id": top.parent_id,
        "started_at": top.start_ns / 1e9,
        "duration_ms": round((top.end_ns - top.start_ns) / 1e6, 3),
        "root_name": top.name,
        "service": top.service,
        "status": "error" if top.is_error else "ok",
        "model": dep.model_id if dep is not None else (ctx.model_requested[:200] or None),
        "request_id": ctx.request_id,
        "principal": None if ctx.principal is ANONYMOUS else ctx.principal.id,
        "route": ctx.route,
        "tokens": (u.input_tokens + u.output_tokens) if u is not None else 0,
        "cost": str(ctx.cost) if ctx.cost is not None else None,
        "errors": errors,
        "span_count": len(spans),
        "spans": orjson.dumps([s.to_json() for s in spans]).decode(),
    }


def trace_query(params: Mapping[str, str], where: Sequence[str]) -> TraceQuery:
    """``GET /plano/v1/traces``'s parameters: ``limit``, ``since`` (epoch seconds), and each
    ``where=key=value``; a bad one is a 400 naming it."""
    try:
        limit = clamp_limit(int(params.get("limit") or 50))
    except ValueError:
        raise InvalidRequest("limit must be a whole number", param="limit") from None
    since = parse_since(params.get("since") or "", time.time())
    pairs: list[tuple[str, str]] = []
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"where must be key=value, not {item[:100]!r}", param="where")
        pairs.append((key.strip(), value.strip()))
    return TraceQuery(limit=limit, since=since, where=tuple(pairs))


async def list_traces(log: TraceLog, q: TraceQuery) -> dict[str, Any]:
    return {"traces": await log.traces(q)}


async def get_trace(log: TraceLog, trace_id: str) -> dict[str, Any] | None:
    spans = await log.trace(trace_id)
    if spans is None:
        return None
    return {"trace_id": trace_id, "spans": spans}


def parse_since(text: str, now: float) -> float | None:
    """``since``: epoch seconds, ISO 8601 (UTC unless it says), or an age (``15m``, ``2h``)."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            "since must be epoch seconds, ISO 8601 or an age such as 15m", param="since"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
