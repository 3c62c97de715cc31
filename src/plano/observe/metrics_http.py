"""The metrics endpoints: the Prometheus exposition on the metrics listener
(``metrics.path``, default ``/metrics``) and ``GET /plano/v1/metrics/summary`` (admin key)
for the dashboard. Both merge every worker's values (``observe/metrics_share.py``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from plano.errors import InvalidRequest
from plano.observe.metrics import render
from plano.observe.metrics_gateway import IN_FLIGHT
from plano.observe.metrics_share import MetricsShare
from plano.observe.metrics_window import KEEP_MINUTES, summarise
from plano.wire.shapes import shape_for_path

__all__ = ["CONTENT_TYPE", "exposition_routes", "summary", "summary_routes"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_MINUTES = 15


def exposition_routes(share: MetricsShare, path: str = "/metrics") -> list[web.RouteDef]:
    async def scrape(_request: web.Request) -> web.Response:
        merged = await share.merged()
        # O(series) text: off the event loop (the merged values are this scrape's own copy).
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(None, render, share.metrics.registry, merged.values)
        return web.Response(body=text.encode(), headers={"content-type": CONTENT_TYPE})

    return [web.get(path, scrape)]


async def summary(share: MetricsShare, minutes: int, now: float | None = None) -> dict[str, Any]:
    """The summary's JSON (``docs/metrics.md``)."""
    merged = await share.merged()
    now = time.time() if now is None else now
    in_flight = {k[0]: int(v) for k, v in merged.values.get(IN_FLIGHT, {}).items()}
    return {
        "generated_at": round(now, 3),
        "processes": merged.processes,
        "stale_s": share.stale_s,
        "in_flight": {"total": sum(in_flight.values()), "by_listener": in_flight},
        **summarise(merged.window, now, minutes),
    }


def summary_routes(share: MetricsShare) -> list[web.RouteDef]:
    async def show(request: web.Request) -> web.Response:
        text = request.query.get("minutes", "")
        try:
            minutes = int(text) if text else DEFAULT_MINUTES
        except ValueError:
            minutes = 0
        if not 1 <= minutes <= KEEP_MINUTES:
            err = InvalidRequest(
                f"minutes must be a whole number from 1 to {KEEP_MINUTES}.", param="minutes"
            )
            body = shape_for_path(request.path).error_body(err)
            return web.Response(
                body=orjson.dumps(body), status=err.status, content_type="application/json"
            )
        body = await summary(share, minutes)
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return [web.get("/plano/v1/metrics/summary", show)]
