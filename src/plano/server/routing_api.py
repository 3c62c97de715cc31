"""Routing endpoints: ``POST /routing/v1/...`` answers the routing decision for a request
without calling a model (as Plano's does), one per client shape; ``GET /plano/v1/routing``
shows each deployment's health and the routing counters."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from plano.errors import PlanoError
from plano.pipeline.context import RequestContext
from plano.routing.router import Plan
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.wire.shapes import ROUTES, SHAPES, ClientShape

__all__ = ["Decider", "decision_routes", "status_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Decider(Protocol):
    """What the decision endpoints need from the gateway: a request's plan, without the
    model call."""

    async def decide(
        self, request: web.Request, ctx: RequestContext, shape: ClientShape
    ) -> Plan: ...


def _decision(gateway: Decider, shape: ClientShape) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        ctx = RequestContext(
            request_id="req_" + os.urandom(12).hex(),
            shape=shape.name,
            headers=request.headers,  # type: ignore[arg-type]
        )
        try:
            plan = await gateway.decide(request, ctx, shape)
        except PlanoError as err:
            return error_response(request.path, err, shape)
        return json_response(
            {
                "models": [f"{d.provider}/{d.model_id}" for d in plan.deployments],
                "deployments": [d.key for d in plan.deployments],
                "route": plan.route,
                "trace_id": ctx.request_id,
            }
        )

    return handler


def decision_routes(gateway: Decider) -> list[web.RouteDef]:
    """``/routing`` + every ``/v1/...`` endpoint of :data:`ROUTES`, in the same shape."""
    return [
        web.post("/routing" + path, _decision(gateway, SHAPES[shape]))
        for path, shape in ROUTES
        if path.startswith("/v1/")
    ]


def status_routes(status: Callable[[], dict[str, object]]) -> list[web.RouteDef]:
    async def handler(_request: web.Request) -> web.Response:
        return json_response(status())

    return [web.get("/plano/v1/routing", handler)]
