"""``GET`` / ``DELETE /plano/v1/sessions/{id}``: the conversations agent listeners keep
(admin key). The id is the one the client sent in the session header (a caller with a
virtual key: ``<principal>:<id>``)."""

from __future__ import annotations

from aiohttp import web

from plano.agents.sessions import SessionLimits, SessionStore
from plano.errors import NotFound
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.store.protocols import KeyValue, StoreUnavailable

__all__ = ["session_routes"]


def _missing(request: web.Request, session_id: str) -> web.Response:
    err = NotFound(f"No session '{session_id[:128]}'.", code="session_not_found")
    return error_response(request.path, err)


def session_routes(kv: KeyValue) -> list[web.RouteDef]:
    store = SessionStore(kv, SessionLimits())

    async def show(request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        try:
            messages = await store.raw(session_id)
        except StoreUnavailable as exc:
            return error_response(request.path, exc)
        if messages is None:
            return _missing(request, session_id)
        return json_response({"id": session_id, "messages": messages, "turns": len(messages)})

    async def delete(request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        try:
            gone = await store.delete(session_id)
        except StoreUnavailable as exc:
            return error_response(request.path, exc)
        if not gone:
            return _missing(request, session_id)
        return json_response({"id": session_id, "deleted": True})

    return [
        web.get("/plano/v1/sessions/{session_id}", show),
        web.delete("/plano/v1/sessions/{session_id}", delete),
    ]
