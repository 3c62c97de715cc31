"""``GET /dashboard``: the dashboard's page and assets, on the admin listener (or on the model
listener that serves the admin endpoints when ``gateway.admin_port`` is unset).

The page itself holds no data and needs no key: a browser cannot send a header when it
navigates. Everything it shows comes from ``/plano/v1/*`` fetches, which the Host/Origin guard
and the admin key protect like any other client's (the page keeps the key in
``sessionStorage`` and sends it as ``x-plano-admin-key``, never in a URL). Every answer carries
a strict Content-Security-Policy (scripts and styles from this origin only, no inline code,
fetches to this origin only, no framing) and the assets an ETag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from aiohttp import web

from plano.dashboard import AssetTable, load_assets
from plano.errors import NotFound
from plano.server.admin import json_response
from plano.server.edge import error_response

__all__ = ["CSP", "DASHBOARD_PATH", "dashboard_routes"]

DASHBOARD_PATH: Final = "/dashboard"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
    }
)
#: The index is revalidated on every load (it names the current assets); an asset URL carries
#: its version, so it may be kept.
_INDEX_CACHE: Final = "no-cache"
_ASSET_CACHE: Final = "private, max-age=31536000, immutable"


def _serve(request: web.Request, table: AssetTable, name: str) -> web.Response:
    asset = table.get(name)
    if asset is None:
        err = NotFound(f"No dashboard file {name[:100]!r}.", code="unknown_url")
        return error_response(request.path, err)
    headers = dict(_SECURITY)
    headers["etag"] = asset.etag
    headers["cache-control"] = _INDEX_CACHE if name == "index.html" else _ASSET_CACHE
    if asset.etag in request.headers.get("if-none-match", ""):
        return web.Response(status=304, headers=headers)
    headers["content-type"] = asset.content_type
    return web.Response(body=asset.body, headers=headers)


def dashboard_routes(
    admin: Sequence[web.RouteDef], table: AssetTable | None = None
) -> list[web.RouteDef]:
    """The dashboard's routes over ``table`` (default: the packaged files). ``admin`` is the
    listener's list of admin routes, read when asked (routes added to it later count):
    ``GET /plano/v1/dashboard/features`` tells the page which endpoints exist, so it asks
    for none that would 404 (a panel says "not available" instead)."""
    files = table if table is not None else load_assets()

    async def features(_request: web.Request) -> web.Response:
        paths = sorted({r.path for r in admin if r.method in ("GET", "*")})
        return json_response({"endpoints": [p for p in paths if p.startswith("/plano/")]})

    async def redirect(_request: web.Request) -> web.Response:
        # Relative URLs in the page resolve under /dashboard/.
        return web.Response(status=308, headers={"location": f"{DASHBOARD_PATH}/", **_SECURITY})

    async def index(request: web.Request) -> web.Response:
        return _serve(request, files, "index.html")

    async def asset(request: web.Request) -> web.Response:
        return _serve(request, files, request.match_info["name"])

    return [
        web.get("/plano/v1/dashboard/features", features),
        web.get(DASHBOARD_PATH, redirect),
        web.get(f"{DASHBOARD_PATH}/", index),
        web.get(DASHBOARD_PATH + "/{name:[A-Za-z0-9_.-]+}", asset),
    ]
