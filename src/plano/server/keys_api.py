"""Admin endpoints for virtual keys and the audit trail (behind the admin key, like every
``/plano/`` route)::

    POST   /plano/v1/keys          make a key; the answer holds its plaintext, once
    GET    /plano/v1/keys          list (no secrets): user, team, tenant, include_revoked,
                                   limit, cursor
    GET    /plano/v1/keys/{id}     one key
    DELETE /plano/v1/keys/{id}     revoke it (static keys: remove them from the config)
    GET    /plano/v1/audit         events, newest first: since, until, principal, action,
                                   source, request_id, kind, limit, cursor

Making and revoking keys are audited (``key.create``, ``key.revoke``).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plano.config.auth import check_key_id, parse_timestamp
from plano.config.units import parse_duration
from plano.errors import InvalidRequest, NotFound, PlanoError
from plano.filters.audit import AuditTrail
from plano.filters.keys import KeyCache, StaticKeys
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.store.audit import AuditQuery
from plano.store.keys import KeyConflict, KeyQuery, KeyRecord, hash_key, key_hint, new_key

__all__ = ["KeyRequest", "audit_routes", "key_routes"]

_TEXT = 200
_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$")


class KeyRequest(BaseModel):
    """The body of ``POST /plano/v1/keys``; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = Field(default=None, max_length=_TEXT)
    user: str | None = Field(default=None, max_length=_TEXT)
    team: str | None = Field(default=None, max_length=_TEXT)
    tenant: str | None = Field(default=None, max_length=_TEXT)
    tags: list[str] = Field(default_factory=list, max_length=100)
    models: list[str] = Field(default_factory=list, max_length=100)
    agents: list[str] = Field(default_factory=list, max_length=100)
    budgets: list[str] = Field(default_factory=list, max_length=100)
    rate_limits: list[str] = Field(default_factory=list, max_length=100)
    #: When it stops working: ISO 8601 or epoch seconds.
    expires_at: float | None = None
    #: Or how long from now: "30d", "12h", "90m", or seconds.
    expires_in: float | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else check_key_id(value)

    @field_validator("expires_at", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @field_validator("expires_in", mode="before")
    @classmethod
    def _within(cls, value: Any) -> Any:
        if isinstance(value, str) and (days := _DAYS.match(value)):
            return float(days.group(1)) * 86400
        return None if value is None else parse_duration(value)

    @field_validator("tags", "models", "agents", "budgets", "rate_limits")
    @classmethod
    def _short(cls, values: list[str]) -> list[str]:
        if any(not v or len(v) > _TEXT for v in values):
            raise ValueError(f"each entry must have 1 to {_TEXT} characters")
        return values

    def record(self, key: str, now: float) -> KeyRecord:
        expires = self.expires_at
        if self.expires_in is not None:
            expires = now + self.expires_in
        return KeyRecord(
            id=self.id or f"key_{os.urandom(6).hex()}",
            key_hash=hash_key(key),
            hint=key_hint(key),
            created_at=now,
            name=self.name,
            user=self.user,
            team=self.team,
            tenant=self.tenant,
            tags=tuple(self.tags),
            models=tuple(self.models),
            agents=tuple(self.agents),
            budgets=tuple(self.budgets),
            rate_limits=tuple(self.rate_limits),
            expires_at=expires,
        )


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return InvalidRequest(f"{where}: {first['msg']}", param=where)


async def _body(request: web.Request) -> KeyRequest:
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    try:
        return KeyRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _limit(params: Mapping[str, str]) -> int:
    text = params.get("limit") or "100"
    try:
        return max(1, min(int(text), 1000))
    except ValueError:
        raise InvalidRequest("limit must be an integer.", param="limit") from None


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("1", "true", "yes")


def _static_matches(known: Mapping[str, Any], q: KeyQuery) -> bool:
    return all(
        want is None or known[field] == want
        for field, want in (("user", q.user), ("team", q.team), ("tenant", q.tenant))
    )


def key_routes(
    static: StaticKeys,
    cache: KeyCache,
    trail: AuditTrail,
    *,
    enforced: bool,
) -> list[web.RouteDef]:
    """The keys endpoints for one runtime snapshot (its static keys; the process's cache
    and trail). ``enforced``: whether the model API requires keys (``auth:`` on)."""
    store = cache.store

    async def create(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            if body.id is not None and body.id in static.by_id:
                raise KeyConflict(
                    f"The id '{body.id}' is a static key's (auth.keys).", code="key_exists"
                )
            key = new_key()
            record = body.record(key, time.time())
            await store.create(record)
        except PlanoError as err:
            return error_response(request.path, err)
        trail.record_admin("key.create", target=record.id, status=201, detail=_who(record))
        answer = {"key": key, "source": "store", "enforced": enforced, **record.to_json()}
        return json_response(answer, 201)

    async def listing(request: web.Request) -> web.Response:
        params = request.query
        try:
            q = KeyQuery(
                user=params.get("user") or None,
                team=params.get("team") or None,
                tenant=params.get("tenant") or None,
                include_revoked=_flag(params, "include_revoked"),
                cursor=params.get("cursor") or None,
                limit=_limit(params),
            )
            page = await store.list(q)
        except PlanoError as err:
            return error_response(request.path, err)
        data = []
        if q.cursor is None:  # static keys head the first page
            described = (static.describe(k) for k in static.by_id.values())
            data = [d for d in described if _static_matches(d, q)]
        data += [{"source": "store", **r.to_json()} for r in page.keys]
        return json_response({"data": data, "next": page.next, "enforced": enforced})

    async def show(request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        known = static.by_id.get(key_id)
        if known is not None:
            return json_response(static.describe(known))
        try:
            record = await store.get(key_id)
        except PlanoError as err:
            return error_response(request.path, err)
        if record is None:
            return error_response(
                request.path, NotFound(f"No key with id '{key_id}'.", code="key_not_found")
            )
        return json_response({"source": "store", **record.to_json()})

    async def revoke(request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        if key_id in static.by_id:
            err = KeyConflict(
                f"'{key_id}' is a static key: remove it from auth.keys and reload the config.",
                code="static_key",
            )
            return error_response(request.path, err)
        try:
            record = await store.revoke(key_id, time.time())
        except PlanoError as err:
            return error_response(request.path, err)
        if record is None:
            return error_response(
                request.path, NotFound(f"No key with id '{key_id}'.", code="key_not_found")
            )
        cache.forget(key_id)
        trail.record_admin("key.revoke", target=key_id, status=200, detail=_who(record))
        return json_response({"source": "store", **record.to_json(), "revoked": True})

    return [
        web.post("/plano/v1/keys", create),
        web.get("/plano/v1/keys", listing),
        web.get("/plano/v1/keys/{key_id}", show),
        web.delete("/plano/v1/keys/{key_id}", revoke),
    ]


def _who(record: KeyRecord) -> dict[str, Any]:
    """What an admin event says of a key besides its id (never the key)."""
    out = {"user": record.user, "team": record.team, "tenant": record.tenant}
    return {k: v for k, v in out.items() if v is not None}


def _time(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name)
    if not text:
        return None
    try:
        value = parse_timestamp(text)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be epoch seconds or an ISO 8601 time.", param=name
        ) from None
    if not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a finite time.", param=name)
    return value


def audit_query(params: Mapping[str, str]) -> AuditQuery:
    """The query ``GET /plano/v1/audit``'s parameters ask for."""
    return AuditQuery(
        since=_time(params, "since"),
        until=_time(params, "until"),
        principal=params.get("principal") or None,
        action=params.get("action") or None,
        source=params.get("source") or None,
        request_id=params.get("request_id") or None,
        kind=params.get("kind") or None,
        cursor=params.get("cursor") or None,
        limit=_limit(params),
    )


def audit_routes(trail: AuditTrail) -> list[web.RouteDef]:
    async def audit(request: web.Request) -> web.Response:
        try:
            page = await trail.query(audit_query(request.query))
        except PlanoError as err:  # a bad parameter (400), the store down (503)
            return error_response(request.path, err)
        return json_response({"data": page.events, "next": page.next})

    return [web.get("/plano/v1/audit", audit)]
