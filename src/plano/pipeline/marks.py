"""What a sampled request records for its trace while it runs: plain values, no SDK.

A :class:`TraceMarks` is made for a request the tracer samples (``ctx.spans``) and shared by
every hop of that request (:meth:`RequestContext.child` registers the child hop here), so
agent, tool and LLM hops appear in the trace without any code of theirs. The hot path only
appends tuples (a filter's timing, an attempt's); spans are built from them after the answer,
off the request's task (``plano.observe``).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

__all__ = ["MARKER", "QUIET_FILTERS", "AttemptMark", "FilterMark", "TraceMarks"]

#: Built-in filters whose phases are bookkeeping, not decisions: no span unless they fail, so
#: the chain records no mark for their runs that succeed (a mark costs ~1 µs on the loop).
QUIET_FILTERS: Final = frozenset(
    {
        "accounting",
        "agent_answer",  # the agent listener's capture of the answer for the session
        "audit",
        "metrics",
        "responses_state",
        "responses_state_recorder",
        "signals",
        "tracing",
    }
)
#: The tracer's own marker filter: its ``on_request`` mark says when routing began (always kept).
MARKER: Final = "tracing"


class FilterMark(NamedTuple):
    """One filter's run of one hook, on one hop."""

    hop: str  #: the hop's span id
    #: Set when the filter sent it on (a remote filter's ``traceparent``); else "" and the
    #: span gets an id when it is built.
    span_id: str
    filter: str
    hook: str
    start_ns: int  #: perf_counter_ns
    end_ns: int
    #: The error's metric label when the filter refused or failed.
    error: str | None


class AttemptMark(NamedTuple):
    """One upstream attempt (fallbacks and retries included), on one hop."""

    hop: str
    span_id: str
    deployment: str
    provider: str
    model: str
    #: The upstream URL as sent (its path names the span; the query, which may hold a key,
    #: never leaves this value).
    url: str
    start_ns: int
    end_ns: int
    status: int
    error: str | None


class TraceMarks:
    """The marks of one sampled request, across its hops."""

    __slots__ = ("active", "attempts", "filters", "hops")

    def __init__(self) -> None:
        self.filters: list[FilterMark] = []
        self.attempts: list[AttemptMark] = []
        #: Hops made from the request's own (agents, tools, models), in creation order:
        #: ``RequestContext`` s (not named here: the context module imports this one).
        self.hops: list[Any] = []
        #: The span id of the filter running now, once a remote filter named it in the
        #: ``traceparent`` it sent (``plano.filters.client``).
        self.active: str | None = None
