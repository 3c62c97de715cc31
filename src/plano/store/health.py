"""How a store is doing, as its users saw it: ``ok``, or ``degraded`` with the reason.

A :class:`StoreHealth` is updated by the code that uses the store (the usage log's writer,
the routing-health sync, the session pins), not by probes of its own: ``/readyz`` and
``/plano/v1/status`` report what the last operation found, at no cost per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["StoreHealth"]

Status = Literal["ok", "degraded"]


@dataclass(eq=False, slots=True)
class StoreHealth:
    #: What the store holds: ``durable``, ``hot``, ``pins``.
    kind: str
    #: ``memory``, ``sqlite``, ``redis``, ``postgres``.
    backend: str
    #: Where, as it may be shown (no password: :func:`plano.store.db.redact_url`).
    target: str
    status: Status = "ok"
    reason: str | None = None
    #: Epoch seconds of the last change of ``status``.
    since: float = field(default_factory=time.time)
    #: Operations that failed since the store was last ok.
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def up(self) -> bool:
        """An operation succeeded; whether that is news (the store was degraded)."""
        if self.status == "ok":
            return False
        self.status, self.reason, self.failures, self.since = "ok", None, 0, time.time()
        return True

    def down(self, reason: str) -> bool:
        """An operation failed; whether that is news (the store was ok)."""
        self.failures += 1
        self.reason = reason[:300]
        if self.status == "degraded":
            return False
        self.status, self.since = "degraded", time.time()
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.backend,
            "target": self.target,
            "status": self.status,
            "since": round(self.since, 3),
        }
        if self.status != "ok":
            out["reason"] = self.reason
            out["failures"] = self.failures
        return out
