"""``GET /plano/v1/signals/summary[?recent=N]``: quality distribution and counts per signal
category over this process's recent analyses (``docs/signals.md`` has the JSON), and
``GET /plano/v1/signals/requests/{request_id}``: one recent request's report as span
attributes and events. Admin key required, like every ``/plano/*`` route."""

from __future__ import annotations

from aiohttp import web

from plano.errors import InvalidRequest, NotFound
from plano.filters.signals import SignalDesk
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.signals import signals_attributes, signals_events

__all__ = ["signals_routes"]

#: Most flagged requests one summary lists.
MAX_RECENT = 100


def signals_routes(desk: SignalDesk, *, enabled: bool) -> list[web.RouteDef]:
    async def summary(request: web.Request) -> web.Response:
        text = request.query.get("recent", "20")
        try:
            recent = int(text)
        except ValueError:
            err = InvalidRequest("recent must be an integer.", param="recent")
            return error_response(request.path, err)
        recent = max(0, min(recent, MAX_RECENT))
        return json_response(desk.summary(enabled=enabled, recent=recent))

    async def one(request: web.Request) -> web.Response:
        entry = desk.window.find(request.match_info["request_id"])
        if entry is None:
            err = NotFound("No signals for this request among the recent ones.")
            return error_response(request.path, err)
        r = entry.report
        return json_response(
            {
                "request_id": entry.request_id,
                "client_request_id": entry.client_request_id,
                "trace_id": entry.trace_id,
                "model": entry.model,
                "at": entry.at,
                "flagged": r.flagged,
                "truncated": r.truncated,
                "attributes": signals_attributes(r),
                "events": [{"name": n, "attributes": a} for n, a in signals_events(r)],
            }
        )

    return [
        web.get("/plano/v1/signals/summary", summary),
        web.get("/plano/v1/signals/requests/{request_id}", one),
    ]
