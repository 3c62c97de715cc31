"""W3C trace context (pure): ``traceparent`` in and out, and ids for new spans.

Every hop of a request (client -> gateway, gateway -> LLM, -> agent, -> filter, -> tool) gets a
span id under one trace id; a client or agent that sends ``traceparent`` continues its trace.
Ids come from a per-process random source seeded from the OS (a fork re-seeds it), because
``os.urandom`` per span would be a system call on the hot path.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Final

__all__ = ["TraceContext", "new_span_id", "new_trace_id", "parse_traceparent"]

_HEX: Final = frozenset("0123456789abcdef")
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


class _Ids:
    """Random ids from a generator seeded from the OS, re-seeded in every forked child
    (workers are forked from one parent and must not repeat each other's ids)."""

    __slots__ = ("_rng",)

    def __init__(self) -> None:
        self._rng = random.Random(os.urandom(16))

    def reseed(self) -> None:
        self._rng.seed(os.urandom(16))

    def bits(self, n: int) -> int:
        return self._rng.getrandbits(n) or 1  # an all-zero id is invalid


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_trace_id() -> str:
    return f"{_IDS.bits(128):032x}"


def new_span_id() -> str:
    return f"{_IDS.bits(64):016x}"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where one hop sits in its trace."""

    trace_id: str
    span_id: str
    #: The span of the hop that made this one (the client's own span, for the first hop).
    parent_id: str | None = None
    sampled: bool = True
    #: The caller's ``tracestate``, passed on untouched.
    state: str | None = None

    @classmethod
    def start(cls, traceparent: str | None = None, tracestate: str | None = None) -> TraceContext:
        """This hop's context: a child of the caller's span when ``traceparent`` is valid,
        else the root of a new trace."""
        parsed = parse_traceparent(traceparent) if traceparent else None
        if parsed is None:
            return cls(new_trace_id(), new_span_id())
        trace_id, parent_id, sampled = parsed
        state = tracestate if tracestate and len(tracestate) <= 512 else None
        return cls(trace_id, new_span_id(), parent_id, sampled, state)

    def child(self, span_id: str | None = None) -> TraceContext:
        """The context of a call this hop makes (``span_id``: one already chosen for it)."""
        sid = span_id or new_span_id()
        return TraceContext(self.trace_id, sid, self.span_id, self.sampled, self.state)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str) -> tuple[str, str, bool] | None:
    """``(trace_id, parent span id, sampled)`` of a W3C ``traceparent``, or ``None`` when it
    is malformed (a malformed one starts a new trace, as the spec says)."""
    parts = value.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[0], parts[1], parts[2], parts[3]
    if len(version) != 2 or version == "ff" or not _is_hex(version):
        return None
    if version == "00" and len(parts) != 4:
        return None
    if len(trace_id) != 32 or not _is_hex(trace_id) or trace_id == _ZERO_TRACE:
        return None
    if len(span_id) != 16 or not _is_hex(span_id) or span_id == _ZERO_SPAN:
        return None
    if len(flags) != 2 or not _is_hex(flags):
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


def _is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)
