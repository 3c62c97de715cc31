"""Read-only admin endpoints under ``/plano/v1``: usage and cost, recent requests, filters,
the runtime's status; and ``/readyz``.

``GET /plano/v1/usage`` answers from the usage log (the same answer whichever worker or replica
serves it), with these query parameters, all optional::

    since, until     epoch seconds or ISO 8601 (UTC unless it says); until is exclusive
    provider, model, principal, session     exact matches
    key, user, team, tenant, agent, route, trace     exact matches (cost attribution; the
                     column names key_id, user_id, trace_id are accepted too)
    status_min       e.g. 400 for errors only
    limit            records in ``recent`` (default 20, at most 1000; ``last`` is the old name)
    cursor           the ``next`` of the previous page
    group_by         comma-separated: provider, model, model_requested, shape, principal,
                     session, error, status, status_class, stream, day, hour, key, user,
                     team, tenant, agent, route, trace
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from plano.accounting.ledger import Ledger
from plano.errors import InvalidRequest, NotFound, PlanoError
from plano.pipeline.filters import FilterChain
from plano.server.edge import ADMIN_SEEN, error_response
from plano.store.protocols import UsageQuery
from plano.store.usage_sql import ATTRIBUTION

__all__ = [
    "admin_routes",
    "json_response",
    "not_found_route",
    "runtime_routes",
    "usage_query",
]


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


_json = json_response


def _time(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"{name} must be epoch seconds or an ISO 8601 time.", param=name
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        value = when.timestamp()
    if not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a finite time.", param=name)
    return value


_MAX_INT = 2**53


def _int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer.", param=name) from None
    if abs(value) > _MAX_INT:  # past the stores' 64-bit integers: a 400, not a 500
        raise InvalidRequest(f"{name} is out of range.", param=name)
    return value


def usage_query(params: Mapping[str, str]) -> tuple[UsageQuery, list[str]]:
    """The usage log query and the grouping that ``/plano/v1/usage``'s parameters ask for."""
    limit = _int(params, "limit", None)
    if limit is None:
        limit = _int(params, "last", 20)
    assert limit is not None
    q = UsageQuery(
        since=_time(params, "since"),
        until=_time(params, "until"),
        provider=params.get("provider") or None,
        model=params.get("model") or None,
        principal=params.get("principal") or None,
        session=params.get("session") or None,
        **{col: params.get(name) or params.get(col) or None for name, col in ATTRIBUTION.items()},
        status_min=_int(params, "status_min", None),
        cursor=params.get("cursor") or None,
        limit=min(max(limit, 1), 1000),
    )
    group_by = [g.strip() for g in params.get("group_by", "").split(",") if g.strip()]
    return q, group_by


def admin_routes(ledger: Ledger, chain: FilterChain) -> list[web.RouteDef]:
    async def usage(request: web.Request) -> web.Response:
        try:
            q, group_by = usage_query(request.query)
            report = await ledger.report(q, group_by)
        except PlanoError as err:  # a bad parameter (400), the usage log down (503)
            return error_response(request.path, err)
        if request.query.get("limit") == "0" or request.query.get("last") == "0":
            report["recent"], report["next"] = [], None
        return _json(report)

    async def one(request: web.Request) -> web.Response:
        try:
            rec = await ledger.find(request.match_info["request_id"])
        except PlanoError as err:
            return error_response(request.path, err)
        if rec is None:
            return error_response(request.path, NotFound("No such request in the usage log."))
        return _json(rec)

    async def filters(_request: web.Request) -> web.Response:
        return _json(chain.snapshot())

    return [
        web.get("/plano/v1/usage", usage),
        web.get("/plano/v1/requests/{request_id}", one),
        web.get("/plano/v1/filters", filters),
    ]


def runtime_routes(
    status: Callable[[], dict[str, Any]], readiness: Callable[[], tuple[bool, dict[str, Any]]]
) -> list[web.RouteDef]:
    """``GET /plano/v1/status`` (the runtime: generation, listeners, this process, its stores)
    and ``GET /readyz``: 200 once the runtime is loaded and serving, 503 while it starts or
    drains (what a load balancer should ask). A degraded store does not make a process
    unready (requests still succeed); both say which store, why, and the writer's queue:
    ``/readyz`` only to a caller the admin endpoints would accept (the guard marks it); anyone
    else gets ``ready`` and ``state`` alone (store targets and errors describe the network)."""

    async def show(_request: web.Request) -> web.Response:
        return _json(status())

    async def ready(request: web.Request) -> web.Response:
        ok, body = readiness()
        if not request.get(ADMIN_SEEN, False):
            body = {"ready": body.get("ready", ok), "state": body.get("state")}
        return _json(body, 200 if ok else 503)

    return [web.get("/plano/v1/status", show), web.get("/readyz", ready)]


def not_found_route() -> web.RouteDef:
    """A catch-all answering 404 in JSON (listeners without the model API's own)."""

    async def missing(request: web.Request) -> web.Response:
        path = request.path if len(request.path) <= 200 else request.path[:200] + "..."
        return error_response(request.path, NotFound(f"Unknown path {path}.", code="unknown_url"))

    # [\s\S]: ``.`` stops at a newline, and a path may hold an encoded one (%0a).
    return web.route("*", "/{tail:[\\s\\S]*}", missing)
