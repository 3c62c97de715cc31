"""Per-deployment health: circuit breaker, Retry-After cool-down, in-flight count and moving
averages of latency. Pure state machines: every method takes the clock value (``now``, in
monotonic seconds) instead of reading a clock, so tests drive them with a fake one.

Breaker states::

    closed --(N consecutive failures, or error rate >= r over >= m calls in the window)--> open
    open --(cooldown elapsed; the next call is the probe)--> half_open
    half_open --(probe succeeds)--> closed        half_open --(probe fails)--> open
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "Breaker",
    "BreakerSettings",
    "BreakerState",
    "DeploymentHealth",
    "Ewma",
    "HealthBoard",
    "PeerHealth",
]

BreakerState: TypeAlias = Literal["closed", "open", "half_open"]
_BUCKETS: Final = 10
_MAX_TRACKED: Final = 10_000


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    enabled: bool = True
    consecutive_failures: int = 5
    error_rate: float = 0.5
    min_requests: int = 20
    window: float = 60.0
    cooldown: float = 10.0


class Breaker:
    """One deployment's circuit breaker. Methods return the new state when it changed."""

    __slots__ = ("_counts", "_epochs", "consecutive", "opened_at", "probe_at", "settings", "state")

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self.state: BreakerState = "closed"
        self.opened_at = 0.0
        self.consecutive = 0
        #: When the half-open probe started; a probe that never reports (its client left)
        #: expires after a cooldown so the deployment is not stuck half-open.
        self.probe_at: float | None = None
        # A ring of buckets (ok, failed) covering the window; each bucket remembers its epoch
        # so stale ones are ignored without a sweep.
        self._counts = [[0, 0] for _ in range(_BUCKETS)]
        self._epochs = [-1] * _BUCKETS

    def ready_at(self, now: float) -> float:
        """When a call may go to this deployment (``now`` if it may now)."""
        if self.state == "closed" or not self.settings.enabled:
            return now
        if self.state == "open":
            return max(now, self.opened_at + self.settings.cooldown)
        # Half-open: one probe at a time; others wait as if it were still open.
        if self.probe_at is not None and now < self.probe_at + self.settings.cooldown:
            return self.probe_at + self.settings.cooldown
        return now

    def on_attempt(self, now: float) -> BreakerState | None:
        if self.state == "open" and now >= self.opened_at + self.settings.cooldown:
            self.state = "half_open"
            self.probe_at = now
            return "half_open"
        if self.state == "half_open":
            self.probe_at = now
        return None

    def on_success(self, now: float) -> BreakerState | None:
        self._count(now, failed=False)
        self.consecutive = 0
        if self.state != "closed":
            self._reset()
            return "closed"
        return None

    def on_failure(self, now: float) -> BreakerState | None:
        self._count(now, failed=True)
        self.consecutive += 1
        if not self.settings.enabled:
            return None
        if self.state == "half_open" or (self.state == "closed" and self._should_open(now)):
            self.state = "open"
            self.opened_at = now
            self.probe_at = None
            return "open"
        return None

    def error_rate(self, now: float) -> tuple[float, int]:
        """Share of failed calls in the window, and the number of calls it is based on."""
        ok = failed = 0
        current = self._epoch(now)
        for epoch, (good, bad) in zip(self._epochs, self._counts, strict=True):
            if current - epoch < _BUCKETS:
                ok += good
                failed += bad
        total = ok + failed
        return (failed / total if total else 0.0), total

    def _should_open(self, now: float) -> bool:
        s = self.settings
        if self.consecutive >= s.consecutive_failures:
            return True
        rate, total = self.error_rate(now)
        return total >= s.min_requests and rate >= s.error_rate

    def _epoch(self, now: float) -> int:
        return math.floor(now * _BUCKETS / self.settings.window)

    def _count(self, now: float, *, failed: bool) -> None:
        epoch = self._epoch(now)
        i = epoch % _BUCKETS
        if self._epochs[i] != epoch:
            self._epochs[i] = epoch
            self._counts[i] = [0, 0]
        self._counts[i][1 if failed else 0] += 1

    def _reset(self) -> None:
        self.state = "closed"
        self.probe_at = None
        self._counts = [[0, 0] for _ in range(_BUCKETS)]
        self._epochs = [-1] * _BUCKETS


class Ewma:
    """Exponentially weighted moving average; ``None`` until the first sample."""

    __slots__ = ("alpha", "value")

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def add(self, sample: float) -> None:
        v = self.value
        self.value = sample if v is None else v + self.alpha * (sample - v)


@dataclass(frozen=True, slots=True)
class PeerHealth:
    """What the other processes (workers, replicas) know of a deployment, merged
    (``routing/shared_health.py``): kept apart from this process's own state, so that it is
    never published back as if learned here."""

    #: Until when some process's Retry-After or open breaker keeps everyone away (monotonic).
    until: float = 0.0
    #: Sums and counts of the processes' latency averages (ms).
    ttft_sum: float = 0.0
    ttft_n: int = 0
    duration_sum: float = 0.0
    duration_n: int = 0
    #: Processes that reported on this deployment.
    processes: int = 0


_NO_PEERS = PeerHealth()


class DeploymentHealth:
    __slots__ = ("breaker", "cool_until", "duration", "in_flight", "name", "peers", "ttft")

    def __init__(self, name: str, settings: BreakerSettings) -> None:
        self.name = name
        self.breaker = Breaker(settings)
        self.in_flight = 0
        #: Until when the provider asked us to stay away (Retry-After).
        self.cool_until = 0.0
        self.ttft = Ewma()
        self.duration = Ewma()
        self.peers = _NO_PEERS

    def ready_at(self, now: float) -> float:
        return max(self.cool_until, self.peers.until, self.breaker.ready_at(now))

    def latency(self, stream: bool) -> float | None:
        """The moving average that matters for this kind of request (the other one if none):
        the mean of this process's average and the other processes' ones."""
        p = self.peers
        if stream:
            first = _mean(self.ttft.value, p.ttft_sum, p.ttft_n)
            return (
                first
                if first is not None
                else _mean(self.duration.value, p.duration_sum, p.duration_n)
            )
        first = _mean(self.duration.value, p.duration_sum, p.duration_n)
        return first if first is not None else _mean(self.ttft.value, p.ttft_sum, p.ttft_n)

    def snapshot(self, now: float) -> dict[str, object]:
        rate, calls = self.breaker.error_rate(now)
        out: dict[str, object] = {
            "deployment": self.name,
            "breaker": self.breaker.state,
            "in_flight": self.in_flight,
            "cooling_s": round(max(self.cool_until - now, 0.0), 3),
            "ttft_ms": _round(self.ttft.value),
            "duration_ms": _round(self.duration.value),
            "error_rate": round(rate, 3),
            "calls_in_window": calls,
        }
        p = self.peers
        if p.processes:
            out["peers"] = {
                "processes": p.processes,
                "cooling_s": round(max(p.until - now, 0.0), 3),
                "ttft_ms": _round(p.ttft_sum / p.ttft_n if p.ttft_n else None),
                "duration_ms": _round(p.duration_sum / p.duration_n if p.duration_n else None),
            }
        return out


def _mean(own: float | None, peer_sum: float, peer_n: int) -> float | None:
    if not peer_n:
        return own
    if own is None:
        return peer_sum / peer_n
    return (own + peer_sum) / (peer_n + 1)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


class HealthBoard:
    """Health of every deployment seen, by name."""

    def __init__(
        self, settings: BreakerSettings | None = None, max_client_named: int = 256
    ) -> None:
        self.settings = settings or BreakerSettings()
        #: Called when a cool-down starts or a breaker opens (the health sync publishes at
        #: once rather than at its next interval).
        self.on_news: Callable[[], None] | None = None
        self._by_name: dict[str, DeploymentHealth] = {}
        self._client_named: set[str] = set()
        self._max_client_named = max_client_named

    def key_for(self, name: str, group: str = "") -> str:
        """The key a deployment's health is kept under: its own name, except that models a
        wildcard serves (``group``) share the wildcard's entry once ``max_client_named`` of
        them are tracked (clients choose those names; the table must stay bounded)."""
        if not group or name in self._client_named:
            return name
        if len(self._client_named) < self._max_client_named:
            self._client_named.add(name)
            return name
        return group

    def get(self, name: str) -> DeploymentHealth:
        h = self._by_name.get(name)
        if h is None:
            h = DeploymentHealth(name, self.settings)
            # Wildcard deployments are named by clients: keep the table bounded.
            if len(self._by_name) < _MAX_TRACKED:
                self._by_name[name] = h
        return h

    def record(
        self,
        name: str,
        now: float,
        *,
        failed: bool,
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        retry_after: float | None = None,
    ) -> BreakerState | None:
        """One attempt's outcome; returns the breaker's new state when it changed."""
        h = self.get(name)
        if retry_after is not None and retry_after > 0 and now + retry_after > h.cool_until:
            h.cool_until = now + retry_after
            self._news()
        if failed:
            changed = h.breaker.on_failure(now)
            if changed == "open":
                self._news()
            return changed
        if ttft_ms is not None:
            h.ttft.add(ttft_ms)
        elif latency_ms is not None:
            h.duration.add(latency_ms)
        return h.breaker.on_success(now)

    def _news(self) -> None:
        if self.on_news is not None:
            self.on_news()

    def snapshot(self, now: float) -> list[dict[str, object]]:
        return [h.snapshot(now) for h in self._by_name.values()]

    def entries(self) -> list[DeploymentHealth]:
        return list(self._by_name.values())

    def known(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return list(self._by_name)

    def adopt(self, old: HealthBoard, keep: Callable[[str], bool]) -> list[str]:
        """Carry ``old``'s entries that ``keep`` accepts over to this board (a config reload):
        the same objects, so requests still in flight on the old runtime report into them.
        This board's breaker settings apply from now on. Returns the names carried over."""
        kept: list[str] = []
        for name, h in old._by_name.items():
            if name in self._by_name or not keep(name):
                continue
            h.breaker.settings = self.settings
            self._by_name[name] = h
            kept.append(name)
        self._client_named |= {n for n in old._client_named if n in self._by_name}
        return kept
