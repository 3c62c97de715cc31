"""Read-only admin endpoints under ``/plano/v1``: usage and cost, recent requests, filters,
the runtime's status; and ``/readyz``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from plano.accounting.ledger import Ledger
from plano.errors import NotFound
from plano.pipeline.filters import FilterChain
from plano.wire.shapes import shape_for_path

__all__ = ["admin_routes", "json_response", "not_found_route", "runtime_routes"]


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


_json = json_response


def admin_routes(ledger: Ledger, chain: FilterChain) -> list[web.RouteDef]:
    async def usage(request: web.Request) -> web.Response:
        try:
            last = min(max(int(request.query.get("last", "20")), 0), 1000)
        except ValueError:
            last = 20
        return _json(ledger.snapshot(last))

    async def one(request: web.Request) -> web.Response:
        rec = ledger.find(request.match_info["request_id"])
        if rec is None:
            return _json({"error": {"message": "No such request in the recent ledger."}}, 404)
        return _json(rec.to_json())

    async def filters(_request: web.Request) -> web.Response:
        return _json(chain.snapshot())

    return [
        web.get("/plano/v1/usage", usage),
        web.get("/plano/v1/requests/{request_id}", one),
        web.get("/plano/v1/filters", filters),
    ]


def runtime_routes(
    status: Callable[[], dict[str, Any]], readiness: Callable[[], tuple[bool, str]]
) -> list[web.RouteDef]:
    """``GET /plano/v1/status`` (the runtime: generation, listeners, this process) and
    ``GET /readyz``: 200 once the runtime is loaded and serving, 503 while it starts or
    drains (what a load balancer should ask)."""

    async def show(_request: web.Request) -> web.Response:
        return _json(status())

    async def ready(_request: web.Request) -> web.Response:
        ok, state = readiness()
        return _json({"ready": ok, "state": state}, 200 if ok else 503)

    return [web.get("/plano/v1/status", show), web.get("/readyz", ready)]


def not_found_route() -> web.RouteDef:
    """A catch-all answering 404 in JSON (listeners without the model API's own)."""

    async def missing(request: web.Request) -> web.Response:
        path = request.path if len(request.path) <= 200 else request.path[:200] + "..."
        err = NotFound(f"Unknown path {path}.", code="unknown_url")
        return _json(shape_for_path(request.path).error_body(err), err.status)

    return web.route("*", "/{tail:.*}", missing)
