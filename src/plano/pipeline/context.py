"""The request context: what one hop of a request carries through the stages.

A user's query may cross several hops (client -> agent -> LLM -> tool); each hop has its own
context, made from its parent's with :meth:`RequestContext.child`: same trace, a new span, the
parent span, the same principal and session. Ids, the principal, timings and usage live here
and are passed explicitly to every stage and filter; nothing about a request is kept in
globals, and ``state`` is only filters' scratch space (the core keeps nothing there).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from plano.core.model import ChatRequest, Usage
from plano.core.trace import TraceContext
from plano.pipeline.marks import TraceMarks

if TYPE_CHECKING:
    from plano.errors import PlanoError
    from plano.providers.deployment import Deployment

__all__ = [
    "ANONYMOUS",
    "Attempt",
    "Decision",
    "HopKind",
    "KeyInfo",
    "OutputText",
    "Principal",
    "RequestContext",
    "usable_id",
]

#: What a hop is: the client's call to Plano, or a call Plano (or an agent through it) makes.
HopKind: TypeAlias = Literal["client", "agent", "llm", "tool", "filter"]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The virtual key a request authenticated with (``Principal.key``): what it may use and
    which limits apply to it. Budgets and rate limits read ``budgets`` / ``rate_limits``
    (names of limits their own config defines); the auth filter enforces ``models`` and
    ``agents``. Never holds the key itself."""

    id: str
    #: ``config`` (a static key of ``auth.keys``) or ``store`` (made through the admin API).
    source: Literal["config", "store"]
    #: Glob patterns of the models, names and aliases it may use; empty: any.
    models: tuple[str, ...] = ()
    #: Glob patterns of the agents it may call; empty: any.
    agents: tuple[str, ...] = ()
    budgets: tuple[str, ...] = ()
    rate_limits: tuple[str, ...] = ()
    #: Epoch seconds after which the key no longer authenticates (``None``: never).
    expires_at: float | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as authentication established it (a virtual key, an agent, the admin).
    Policy decisions, budgets, limits and cost attribution key on it."""

    id: str
    kind: Literal["anonymous", "key", "user", "agent", "admin"] = "anonymous"
    user: str | None = None
    team: str | None = None
    tenant: str | None = None
    tags: frozenset[str] = frozenset()
    #: The virtual key behind a ``kind == "key"`` principal (its id is :attr:`id`).
    key: KeyInfo | None = None


#: A caller nothing has authenticated (the gateway without keys configured).
ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision a filter or policy made about a request, for the audit trail. Never
    holds secrets or the values it acted on (a PII kind, not the email)."""

    #: Who decided: ``auth``, ``policy:<file or rule set>``, ``budget``, ``rate_limit``, ``pii``...
    source: str
    #: ``allow``, ``deny``, ``redact``, ``route``, ``cap``, ``strip``, ``flag``, ``limit``...
    action: str
    #: The rule or limit that decided it, when there is one.
    rule: str | None = None
    #: A short reason the operator can read (what the client was told, for a deny).
    reason: str | None = None


#: Characters of an answer kept for counting its tokens when the provider reports none.
OUTPUT_SAMPLE_CHARS = 64 * 1024


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
    #: The gateway's own id of this request: unique, whatever the client sent (the usage log,
    #: audit trail and ``x-plano-request-id`` key on it).
    request_id: str
    #: Client wire shape: ``openai_chat``, ``anthropic_messages``, ``openai_responses``.
    shape: str
    #: Request headers, lower-cased names; secrets stay here and are never logged.
    headers: dict[str, str]
    started_ns: int = field(default_factory=time.perf_counter_ns)
    request: ChatRequest | None = None
    #: This hop's place in its trace (W3C trace context).
    trace: TraceContext = field(default_factory=TraceContext.start)
    hop: HopKind = "client"
    #: The context of the hop that made this one (``None`` for the client's own call).
    parent: RequestContext | None = field(default=None, repr=False)
    #: The listener that took the request.
    listener: str = ""
    #: Who is calling, once authentication set it.
    principal: Principal = ANONYMOUS
    #: The conversation this turn belongs to (header, metadata or derived), when known.
    session_id: str | None = None
    #: The agent this hop serves or calls, on agent listeners.
    agent_id: str | None = None
    #: Free-form labels filters add (session id, task tag); values are the caller's.
    labels: dict[str, str] = field(default_factory=dict)
    #: Headers filters add to the answer (``x-plano-injection``); Plano's own win a clash.
    response_headers: dict[str, str] = field(default_factory=dict)
    #: Policy decisions made on this request (auth, policies, budgets, limits, guards), in
    #: order; the audit trail stores them.
    decisions: list[Decision] = field(default_factory=list)
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
    #: Response bytes went out: a failure can no longer change the status and fallback can no
    #: longer move to another deployment (the relay reports it in-band).
    committed: bool = False
    #: Scratch space for filters, keyed by filter name. The core keeps nothing here.
    state: dict[str, Any] = field(default_factory=dict)
    #: The caller's ``x-request-id`` (when sane): echoed back and passed along the chain, but
    #: never a key (a client may repeat it; an agent's model calls in one turn share it).
    client_request_id: str | None = None
    #: The trace's marks when the tracer sampled this request (shared by its hops), else None.
    spans: TraceMarks | None = field(default=None, repr=False)

    def child(
        self,
        hop: HopKind,
        request_id: str,
        *,
        shape: str | None = None,
        request: ChatRequest | None = None,
        agent_id: str | None = None,
    ) -> RequestContext:
        """The context of a call this hop makes (to an agent, a model, a tool or a filter):
        a new span in the same trace, the same principal, session and labels."""
        made = RequestContext(
            request_id,
            shape or self.shape,
            self.headers,
            request=request,
            trace=self.trace.child(),
            hop=hop,
            parent=self,
            listener=self.listener,
            principal=self.principal,
            session_id=self.session_id,
            agent_id=agent_id if agent_id is not None else self.agent_id,
            labels=dict(self.labels),
            spans=self.spans,
            client_request_id=self.forward_id,
        )
        if self.spans is not None:  # the hop becomes a span of this trace (plano.observe)
            self.spans.hops.append(made)
        return made

    @property
    def forward_id(self) -> str:
        """The ``x-request-id`` this request carries back to its client and on to providers,
        agents, filters and pub/sub: the client's, else ours (one id along the chain)."""
        return self.client_request_id or self.request_id

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


def usable_id(given: str | None) -> str | None:
    """A caller's id (``x-request-id``, a session id) when it is a sane token: at most 128
    printable ASCII characters. It goes into logs, headers and the stores."""
    if given and len(given) <= 128 and given.isascii() and given.isprintable():
        return given
    return None
