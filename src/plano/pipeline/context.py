"""The request context: what one request carries through the stages.

Ids, the principal, timings and usage live here and are passed explicitly to every stage and
filter; nothing about a request is kept in globals.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plano.core.model import ChatRequest, Usage

if TYPE_CHECKING:
    from plano.errors import PlanoError
    from plano.routing.catalog import Deployment

__all__ = ["Attempt", "OutputText", "RequestContext"]

#: Characters of an answer kept for counting its tokens when the provider reports none.
OUTPUT_SAMPLE_CHARS = 256 * 1024


class OutputText:
    """An answer's text as it is relayed, kept only to count tokens when the provider reports
    no usage. Bounded: past ``cap`` characters only the length grows, and the count of the
    kept prefix is scaled to the whole (a 20 MB answer costs 256 KB, not a list of
    thousands of small strings)."""

    __slots__ = ("_cap", "_kept", "_parts", "total")

    def __init__(self, cap: int = OUTPUT_SAMPLE_CHARS) -> None:
        self._cap = cap
        self._parts: list[str] = []
        self._kept = 0
        #: Characters seen in all.
        self.total = 0

    def append(self, text: str) -> None:
        n = len(text)
        if not n:
            return
        self.total += n
        room = self._cap - self._kept
        if room <= 0:
            return
        piece = text if n <= room else text[:room]
        self._parts.append(piece)
        self._kept += len(piece)
        if len(self._parts) >= 512:  # many tiny deltas: one string costs less memory
            self._parts = ["".join(self._parts)]

    def extend(self, texts: Iterable[str]) -> None:
        for t in texts:
            self.append(t)

    def sample(self) -> str:
        """The kept prefix (the whole answer when it is under the cap)."""
        return "".join(self._parts)

    @property
    def scale(self) -> float:
        """Multiply the sample's count by this to estimate the whole answer."""
        return self.total / self._kept if self._kept else 1.0

    def __bool__(self) -> bool:
        return self.total > 0


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
    #: Answer text, kept (bounded) only to count tokens when the provider reports none.
    output_text: OutputText = field(default_factory=OutputText)
    client_closed: bool = False
    #: The whole answer, terminal event included, was written to the client: a client that
    #: closes its side afterwards (the openai SDK does, right after ``[DONE]``) did not
    #: cut anything short.
    answered: bool = False
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
