"""Fault injection: which fault a request gets, and the pure parts of acting it out.

The decision is reproducible: a :class:`FaultPlan` draws from its own ``random.Random(seed)``
and counts requests itself, so the same options and the same request sequence give the same
faults. The server does the IO (sleeping, hanging, cutting connections).

Fault kinds::

    none      answer normally
    429       rate limited, with a ``Retry-After`` header
    500       internal error
    503       overloaded / unavailable
    400       context length exceeded
    hang      never answer (released when the client leaves or the server stops)
    cut       send part of the answer, then drop the connection
    garbage   200 with a body that is not JSON, or a stream with a malformed event
    slow      answer normally after ``slow_ms``
"""

from __future__ import annotations

import random
from typing import Final, Literal, get_args

from plano.sim.content import ErrorKind

__all__ = [
    "FAULT_KINDS",
    "GARBAGE_BODY",
    "STATUS",
    "FaultKind",
    "FaultPlan",
    "cut_body",
    "cut_stream",
    "error_for",
    "garble_stream",
]

FaultKind = Literal["none", "429", "500", "503", "400", "hang", "cut", "garbage", "slow"]
FAULT_KINDS: Final[frozenset[str]] = frozenset(get_args(FaultKind))

#: HTTP status of each error kind.
STATUS: Final[dict[ErrorKind, int]] = {
    "bad_request": 400,
    "context_length": 400,
    "auth": 401,
    "permission": 403,
    "not_found": 404,
    "rate_limit": 429,
    "server": 500,
    "unavailable": 503,
}

_ERROR_FAULTS: Final[dict[str, ErrorKind]] = {
    "429": "rate_limit",
    "500": "server",
    "503": "unavailable",
    "400": "context_length",
}

CONTEXT_WINDOW: Final = 128_000

#: What a broken proxy in front of a provider might send with a 200.
GARBAGE_BODY: Final = b"<html><body><h1>200 OK</h1>upstream returned \xff\xfe garbage</body></html>"


class FaultPlan:
    """Decides per request whether the configured fault applies.

    ``fault_after`` lets the first N requests through; after that each request gets the fault
    with probability ``fault_rate``. Counting starts when the plan is made, that is when the
    options are set.
    """

    __slots__ = ("_after", "_fault", "_rate", "_rng", "seen")

    def __init__(self, fault: FaultKind, rate: float, after: int, seed: int) -> None:
        self._fault: FaultKind = fault
        self._rate = rate
        self._after = after
        self._rng = random.Random(seed)
        self.seen = 0

    def pick(self) -> FaultKind:
        n = self.seen
        self.seen = n + 1
        if self._fault == "none" or n < self._after:
            return "none"
        if self._rate >= 1.0:
            return self._fault
        return self._fault if self._rng.random() < self._rate else "none"


def error_for(fault: FaultKind, prompt_tokens: int) -> tuple[ErrorKind, str] | None:
    """The error kind and message of an error fault; ``None`` for the others."""
    kind = _ERROR_FAULTS.get(fault)
    if kind is None:
        return None
    return kind, _MESSAGES[kind].format(n=max(prompt_tokens, CONTEXT_WINDOW + 1), w=CONTEXT_WINDOW)


_MESSAGES: Final[dict[ErrorKind, str]] = {
    "rate_limit": "Rate limit reached for requests (simulated). Please try again later.",
    "server": "The server had an error while processing your request (simulated).",
    "unavailable": "The model is currently overloaded. Please try again later (simulated).",
    "context_length": (
        "This model's maximum context length is {w} tokens. However, your messages resulted "
        "in {n} tokens. Please reduce the length of the messages."
    ),
}


def cut_body(body: bytes) -> bytes:
    """The part of a non-stream body sent before the connection drops."""
    return body[: max(1, len(body) // 2)]


def cut_stream(events: list[bytes]) -> list[bytes]:
    """The events sent before the connection drops: about a third, never the terminator."""
    return events[: max(1, min(len(events) - 1, len(events) // 3))]


def garble_stream(events: list[bytes]) -> list[bytes]:
    """A stream whose second event carries truncated JSON; it still ends normally."""
    if len(events) < 2:
        return [b"data: {not json\n\n", *events]
    broken = events[1]
    return [events[0], broken[: len(broken) // 2].rstrip(b"\r\n") + b"\n\n", *events[2:]]
