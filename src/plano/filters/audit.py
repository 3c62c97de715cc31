"""The audit trail: who did what, and what Plano decided about it.

Each request's decisions (``ctx.decisions``: auth, policies, budgets, limits, guards) become
one event each, with who (principal id, kind, user, team, tenant), what (model requested and
answering model, listener, status), and the request and trace ids; admin actions (a key
created or revoked, a config reloaded) are events too. Events go to the durable store
through their own :class:`~plano.store.writer.BatchWriter`, off the request path, after the
answer (:class:`AuditFilter` runs in ``on_complete``). A request nothing decided about (no
auth, no policy) adds nothing: the usage log already has it.

Never secrets: keys appear by id only; a decision's reason is what the client was told or a
rule's words, and guards record kinds (``email``), not values.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.store.audit import AuditLog, AuditPage, AuditQuery
from plano.store.writer import BatchWriter

__all__ = ["ADMIN_PRINCIPAL", "AuditFilter", "AuditTrail"]

#: Who admin actions are recorded as: the holder of the admin key.
ADMIN_PRINCIPAL = "admin"
#: Longest model name kept from a client's request.
_MAX_MODEL = 200


class AuditTrail:
    """Records events (queued for the writer) and answers queries. One per process; runtime
    snapshots come and go, the trail stays."""

    def __init__(self, log: AuditLog, writer: BatchWriter, *, host: str | None = None) -> None:
        self.log = log
        self.writer = writer
        self.host = host or socket.gethostname()
        self._prefix = f"adm_{os.urandom(6).hex()}_"
        self._n = 0

    def record_request(self, ctx: RequestContext) -> int:
        """Queue one event per decision made about ``ctx``; how many."""
        if not ctx.decisions:
            return 0
        p = ctx.principal
        dep = ctx.deployment
        model_requested = ctx.model_requested
        if len(model_requested) > _MAX_MODEL:
            model_requested = model_requested[:_MAX_MODEL] + "..."
        common = {
            "ts": time.time(),
            "kind": "request",
            "request_id": ctx.request_id,
            "client_request_id": ctx.client_request_id,
            "trace_id": ctx.trace.trace_id,
            "listener": ctx.listener,
            "principal": p.id,
            "principal_kind": p.kind,
            "user": p.user,
            "team": p.team,
            "tenant": p.tenant,
            "model_requested": model_requested or None,
            "model": f"{dep.provider}/{dep.model_id}" if dep is not None else None,
            "status": ctx.status,
        }
        for n, d in enumerate(ctx.decisions):
            event = {
                **common,
                "id": f"{ctx.request_id}/{n}",
                "source": d.source,
                "action": d.action,
                "rule": d.rule,
                "reason": d.reason,
            }
            self.writer.submit(event)
        return len(ctx.decisions)

    def record_admin(
        self,
        action: str,
        *,
        target: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        principal: str = ADMIN_PRINCIPAL,
        status: int | None = None,
    ) -> str:
        """Queue an admin action (``key.create``, ``key.revoke``, ``config.reload``); its id.
        ``event_id`` makes one event of the same action seen by several processes."""
        if event_id is None:
            self._n += 1
            event_id = f"{self._prefix}{self._n:06d}"
        self.writer.submit(
            {
                "id": event_id,
                "ts": time.time(),
                "kind": "admin",
                "principal": principal,
                "principal_kind": "admin",
                "source": "admin",
                "action": action,
                "target": target,
                "reason": reason,
                "status": status,
                "detail": dict(detail) if detail else None,
            }
        )
        return event_id

    async def query(self, q: AuditQuery, *, flush_within: float = 1.0) -> AuditPage:
        """A page of events, newest first; this process's queued events are written first,
        so a request it just answered shows."""
        await self.writer.flush(flush_within)
        return await self.log.query(q)


class AuditFilter(Filter):
    """Hands each finished request's decisions to the trail (last in every model chain, so
    it sees every other filter's decisions)."""

    name = "audit"
    rewrites_request = False

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def on_complete(self, ctx: RequestContext) -> None:
        self.trail.record_request(ctx)
