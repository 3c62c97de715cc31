"""Read-only admin endpoints under ``/plano/v1``: usage and cost, recent requests, filters."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from plano.accounting.ledger import Ledger
from plano.pipeline.filters import FilterChain

__all__ = ["admin_routes"]


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


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
