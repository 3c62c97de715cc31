"""The request context: what one request carries through the stages.

Ids, the principal, timings and usage live here and are passed explicitly to every stage and
filter; nothing about a request is kept in globals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plano.core.model import ChatRequest, Usage

if TYPE_CHECKING:
    from plano.errors import PlanoError
    from plano.routing.catalog import Deployment

__all__ = ["Attempt", "RequestContext"]


@dataclass(slots=True)
class Attempt:
    """One call to one deployment."""

    deployment: str
    status: int
    error: str | None = None
    duration_ms: float = 0.0


@dataclass(slots=True)
class RequestContext:
    request_id: str
    #: Client wire shape: ``openai_chat``, ``anthropic_messages``, ``openai_responses``.
    shape: str
    #: Request headers, lower-cased names; secrets stay here and are never logged.
    headers: dict[str, str]
    started_ns: int = field(default_factory=time.perf_counter_ns)
    request: ChatRequest | None = None
    #: Who is calling (a virtual key, user or team) once auth filters set it.
    principal: str | None = None
    #: Free-form labels filters add (session id, task tag); values are the caller's.
    labels: dict[str, str] = field(default_factory=dict)
    deployment: Deployment | None = None
    #: The routing rule or preference route that chose the deployments (``x-plano-route``).
    route: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    #: Nanosecond timestamps (perf_counter) of the upstream call of the answering attempt.
    upstream_start_ns: int = 0
    upstream_headers_ns: int = 0
    first_token_ns: int = 0
    upstream_end_ns: int = 0
    end_ns: int = 0
    usage: Usage | None = None
    cost: Decimal | None = None
    status: int = 200
    error: PlanoError | None = None
    #: Streamed answer text, kept only to count tokens when the provider reports none.
    output_text: list[str] = field(default_factory=list)
    client_closed: bool = False
    #: Scratch space for filters, keyed by filter name.
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        return self.request is not None and self.request.stream

    @property
    def model_requested(self) -> str:
        return self.request.model if self.request is not None else ""

    def upstream_ms(self) -> float:
        if not self.upstream_start_ns:
            return 0.0
        end = self.upstream_end_ns or self.upstream_headers_ns or time.perf_counter_ns()
        return (end - self.upstream_start_ns) / 1e6

    def total_ms(self) -> float:
        return ((self.end_ns or time.perf_counter_ns()) - self.started_ns) / 1e6

    def overhead_ms(self) -> float:
        """Time Plano itself added: everything but the wait on the upstream."""
        return max(self.total_ms() - self.upstream_ms(), 0.0)

    def ttft_ms(self) -> float | None:
        if not self.first_token_ns:
            return None
        return (self.first_token_ns - self.started_ns) / 1e6
