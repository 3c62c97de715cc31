"""The routing seam: which deployments to try, in order, for one request, and what to learn
from each attempt's outcome.

:class:`StaticRouter` is the plain Plano behaviour (the one deployment a name resolves to).
Pools, rules, strategies, circuit breakers and preference routing implement the same protocol.
A :class:`Plan` carries its :class:`FallbackPolicy` and :class:`AttemptTracker` into
:mod:`plano.routing.fallback`, which runs it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, Protocol

from plano.errors import PlanoError
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.routing.catalog import ModelCatalog

__all__ = [
    "ALL_FAILURES",
    "AttemptTracker",
    "FallbackPolicy",
    "Plan",
    "Router",
    "StaticRouter",
]

ALL_FAILURES: Final = frozenset(
    {"connect", "timeout", "rate_limit", "server_error", "context_length", "content_policy"}
)


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """How :func:`~plano.routing.fallback.call_with_fallback` goes through a plan."""

    retry_on: frozenset[str] = ALL_FAILURES
    #: Attempts in all (retries included); ``None``: every candidate once, at least ``floor``.
    max_attempts: int | None = None
    floor: int = 3
    #: Seconds from the start of the call after which no attempt or wait starts.
    deadline: float | None = 60.0
    #: Limit of one non-stream attempt (streams have their own first-token limit).
    attempt_timeout: float | None = None
    #: Longest wait for a cooling deployment when no other one is ready.
    max_retry_after: float = 5.0


class AttemptTracker(Protocol):
    """Per-request hooks into the router's health state (in-flight counts, breakers,
    affinity). Times are monotonic seconds."""

    def now(self) -> float: ...
    def ready_at(self, dep: Deployment) -> float: ...
    def started(self, dep: Deployment) -> None: ...
    def ended(self, dep: Deployment) -> None: ...
    def failed_over(self, dep: Deployment, kind: str) -> None: ...
    def succeeded(self, dep: Deployment) -> None: ...


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
