"""What every backend of the hot stores shares: the limit check, the sliding-window arithmetic
(pure; the Redis Lua script mirrors it line for line), reservation ids and topic ids.

The sliding window is two weighted fixed windows: with ``window`` seconds ``w``, the current
fixed bucket ``b = floor(now / w)`` holds ``cur`` (admitted since the bucket began) and the
previous one ``prev``; the amount admitted in the last ``w`` seconds is estimated as
``prev * (1 - f) + cur`` where ``f`` is the fraction of the current bucket elapsed. The estimate
is exact when the previous bucket's admissions were spread evenly; it errs when they were
bunched: bunched at the previous bucket's end, a true sliding count may reach up to ``2 x limit``
(never more, as ``cur <= limit`` always); bunched at its start, it refuses early, at worst for
part of one bucket. Memory per key is three numbers, whatever the traffic.
"""

from __future__ import annotations

import itertools
import math
import os
import secrets
from dataclasses import dataclass

from plano.store.protocols import WindowDecision

__all__ = [
    "EPSILON",
    "SETTLED_MEMORY",
    "WindowState",
    "fits",
    "new_reservation_id",
    "parse_seq_id",
    "window_decide",
]

#: Slack on every limit check, so that float sums such as ``0.1 + 0.2`` fit a limit of ``0.3``.
EPSILON = 1e-9
#: How long a settled or released reservation id is remembered past its expiry (a settle or
#: release repeated within that time is a no-op; after it, the id is forgotten).
SETTLED_MEMORY = 3600.0
#: Added to a computed retry-after so that a retry at exactly that time is admitted.
_RETRY_SLACK = 0.001


def fits(used: float, held: float, amount: float, limit: float) -> bool:
    """``used + held + amount <= limit``, with :data:`EPSILON` of slack."""
    return used + held + amount <= limit + EPSILON * max(1.0, abs(limit))


#: Reservation ids: a random per-process prefix and a counter (one ``getrandom`` per process,
#: not per request: ``secrets.token_hex`` cost ~13 µs a request). Reseeded in a forked child,
#: so two workers never share a prefix.
_id_prefix = secrets.token_hex(8)
_id_counter = itertools.count()


def _reseed_ids() -> None:
    global _id_prefix, _id_counter
    _id_prefix = secrets.token_hex(8)
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_reseed_ids)


def new_reservation_id() -> str:
    """Unique across processes and restarts (64 random bits a process) and within one."""
    return f"{_id_prefix}{next(_id_counter):08x}"


def parse_seq_id(message_id: str) -> int:
    """The sequence number of an embedded backend's message id (a decimal string)."""
    if not message_id.isdigit():
        raise ValueError(f"not a message id: {message_id!r}")
    return int(message_id)


@dataclass(frozen=True, slots=True)
class WindowState:
    """One key's two fixed buckets: ``bucket`` is the current bucket's index."""

    bucket: int
    cur: float
    prev: float


def window_decide(
    state: WindowState | None, now: float, amount: float, limit: float, window: float
) -> tuple[WindowState, WindowDecision]:
    """Admit ``amount`` or not; returns the key's new state (unchanged counts when refused,
    but moved to the current bucket) and the decision."""
    bucket = math.floor(now / window)
    cur = prev = 0.0
    if state is not None:
        if state.bucket == bucket:
            cur, prev = state.cur, state.prev
        elif state.bucket == bucket - 1:
            prev = state.cur
    frac = now / window - bucket
    estimate = prev * (1.0 - frac) + cur
    if fits(estimate, 0.0, amount, limit):
        count = estimate + amount
        decision = WindowDecision(True, count, max(0.0, limit - count), 0.0)
        return WindowState(bucket, cur + amount, prev), decision
    retry = _retry_after(cur, prev, frac, amount, limit, window)
    return WindowState(bucket, cur, prev), WindowDecision(
        False, estimate, max(0.0, limit - estimate), retry
    )


def _retry_after(
    cur: float, prev: float, frac: float, amount: float, limit: float, window: float
) -> float:
    """Seconds until ``amount`` would be admitted if nothing else is (the previous bucket's
    share decays linearly; the current bucket becomes the previous one at the next bucket).
    An amount above the limit never fits: one window is answered."""
    if amount > limit:
        return window
    if cur + amount <= limit and prev > 0:
        # Within this bucket, once prev * (1 - f) <= limit - cur - amount.
        f = 1.0 - (limit - cur - amount) / prev
        return max(0.0, (f - frac) * window) + _RETRY_SLACK
    # At the next bucket cur becomes prev: cur * (1 - g) + amount <= limit.
    g = 1.0 - (limit - amount) / cur if cur > 0 else 0.0
    return (1.0 - frac) * window + max(0.0, g) * window + _RETRY_SLACK
