"""The recent traces the gateway keeps (behind the admin key, like every ``/plano/v1`` route)::

    GET /plano/v1/traces?limit=&since=&where=key=value   trace summaries, newest first
    GET /plano/v1/traces/{trace_id}                       every span of one trace

``since``: epoch seconds, ISO 8601 or an age (``15m``); ``where`` repeats and matches a
summary field (service, status, model, principal, route, request_id) or any span attribute.
This worker's queued parts are written first, so a request it just answered is listed.
"""

from __future__ import annotations

from aiohttp import web

from plano.errors import NotFound, PlanoError
from plano.observe.recent import get_trace, list_traces, trace_query
from plano.observe.tracing import TracingHub
from plano.server.admin import json_response
from plano.server.edge import error_response

__all__ = ["trace_routes"]

_FLUSH_WITHIN = 1.0


def trace_routes(hub: TracingHub) -> list[web.RouteDef]:
    async def flush() -> None:
        if hub.tracer is not None:
            await hub.tracer.flush()
        if hub.writer is not None:
            await hub.writer.flush(_FLUSH_WITHIN)

    async def traces(request: web.Request) -> web.Response:
        try:
            q = trace_query(request.query, request.query.getall("where", []))
            await flush()
            return json_response(await list_traces(hub.log, q))
        except PlanoError as err:
            return error_response(request.path, err)

    async def trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"].lower()
        if len(trace_id) != 32 or not all(c in "0123456789abcdef" for c in trace_id):
            return error_response(
                request.path, NotFound("A trace id is 32 hex digits.", code="not_found")
            )
        try:
            await flush()
            found = await get_trace(hub.log, trace_id)
        except PlanoError as err:
            return error_response(request.path, err)
        if found is None:
            return error_response(
                request.path, NotFound(f"Trace {trace_id} is not kept.", code="not_found")
            )
        return json_response(found)

    async def status(_request: web.Request) -> web.Response:
        return json_response(hub.status())

    return [
        web.get("/plano/v1/traces", traces),
        web.get("/plano/v1/traces/{trace_id}", trace),
        web.get("/plano/v1/tracing", status),
    ]
