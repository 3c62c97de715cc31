"""The routing seam: which deployments to try, in order, for one request, and what to learn
from each attempt's outcome.

:class:`StaticRouter` is the plain Plano behaviour (the one deployment a name resolves to).
Pools, rules, strategies, circuit breakers and preference routing implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from plano.errors import PlanoError
from plano.pipeline.context import RequestContext
from plano.routing.catalog import Deployment, ModelCatalog

if TYPE_CHECKING:
    from plano.routing.fallback import AttemptTracker, FallbackPolicy

__all__ = ["Plan", "Router", "StaticRouter"]


@dataclass(slots=True)
class Plan:
    """Deployments in the order to try them; the first that answers wins."""

    deployments: list[Deployment]
    #: Upper bound on attempts (``len(deployments)`` when None).
    max_attempts: int | None = None
    #: The routing rule or preference route that chose it (``x-plano-route``).
    route: str | None = None
    #: Retry/fallback policy; ``None``: each deployment once, in order.
    policy: FallbackPolicy | None = None
    #: Per-request hooks into the router's health state.
    tracker: AttemptTracker | None = None


class Router(Protocol):
    def plan(self, ctx: RequestContext) -> Plan | Awaitable[Plan]:
        """Which deployments to try. A router that must wait (a router model) returns an
        awaitable; the common case returns the plan at once, with no coroutine to schedule."""
        ...

    def report(
        self, dep: Deployment, error: PlanoError | None, latency_ms: float, ttft_ms: float | None
    ) -> None:
        """Outcome of one attempt (``error`` None on success), for health and latency state."""
        ...

    def backoff(self, attempt: int, error: PlanoError) -> float:
        """Seconds to wait before the next attempt."""
        ...


class StaticRouter:
    """One deployment per name, no fallback."""

    def __init__(self, catalog: ModelCatalog) -> None:
        self.catalog = catalog

    def plan(self, ctx: RequestContext) -> Plan:
        return Plan([self.catalog.resolve(ctx.model_requested)])

    def report(
        self, dep: Deployment, error: PlanoError | None, latency_ms: float, ttft_ms: float | None
    ) -> None:
        return None

    def backoff(self, attempt: int, error: PlanoError) -> float:
        return 0.0
