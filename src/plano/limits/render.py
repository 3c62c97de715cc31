"""How limits speak to clients: dollar amounts, OpenAI's rate-limit headers and their
durations, ``Retry-After``. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from plano.store.protocols import WindowDecision

__all__ = [
    "WindowShown",
    "duration",
    "iso_utc",
    "ratelimit_headers",
    "tokens_text",
    "usd",
    "window_reset",
]

_NANO = Decimal(1_000_000_000)


def usd(nano: float) -> str:
    """Nano-dollars as dollars: ``$10.00``, ``$0.0312``, ``$0.000012`` (two decimals at
    least, more until four significant digits show)."""
    value = Decimal(int(nano)) / _NANO
    if value == 0 or value >= 1:
        return f"${value:,.2f}"
    places = max(2, 3 - math.floor(math.log10(float(value))))
    text = f"{value:.{places}f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def tokens_text(n: float) -> str:
    return f"{int(n):,} tokens"


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` format: ``250ms``, ``1s``, ``6m0s``, ``1h2m3s``
    (whole seconds from one second up, rounded up)."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    s = math.ceil(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def window_reset(now: float, window: float) -> float:
    """Seconds until a window admitted into now is back to its full limit if nothing more
    comes: the sliding window is two fixed buckets, and what the current bucket holds weighs
    on the next one until its end."""
    frac = now / window - math.floor(now / window)
    return (2.0 - frac) * window


@dataclass(frozen=True, slots=True)
class WindowShown:
    """One window's figures for the headers: its limit, what it said, when it resets."""

    kind: Literal["requests", "tokens"]
    limit: float
    decision: WindowDecision
    reset: float


def ratelimit_headers(shown: list[WindowShown]) -> dict[str, str]:
    """OpenAI's headers, per kind, for the tightest window of that kind (least remaining):
    ``x-ratelimit-limit-requests``, ``-remaining-requests``, ``-reset-requests`` and the
    ``-tokens`` variants."""
    out: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        mine = [w for w in shown if w.kind == kind]
        if not mine:
            continue
        w = min(mine, key=lambda x: (x.decision.remaining, -x.reset))
        out[f"x-ratelimit-limit-{kind}"] = str(int(w.limit))
        out[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(w.decision.remaining)))
        out[f"x-ratelimit-reset-{kind}"] = duration(w.reset)
    return out
