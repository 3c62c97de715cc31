"""Pool strategies: each orders a pool's deployments for one request (the first is tried first,
the rest are the fallback order). Pure: randomness, the round-robin turn, in-flight counts,
latencies and prices come in through :class:`Signals`.

==============  ==============================================================================
weighted        weighted random order (Efraimidis-Spirakis keys ``u ** (1 / weight)``)
round_robin     rotate by one each request
least_busy      fewest requests in flight first (ties rotate)
lowest_latency  lowest moving average first: time to first token for streams, duration
                otherwise; deployments without data go first, so they get measured
cheapest        lowest estimated cost of this request first; unknown prices last
lowest_metric   lowest value of a custom ``model_metrics_sources`` metric first; unknown last
==============  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from plano.providers.deployment import Deployment

__all__ = ["ORDERS", "Member", "Signals", "order"]


@dataclass(frozen=True, slots=True)
class Member:
    deployment: Deployment
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Signals:
    """What strategies may look at, as functions so that only the one used is computed."""

    #: Uniform random number in [0, 1).
    random: Callable[[], float]
    #: This pool's request counter (round-robin position).
    turn: int = 0
    in_flight: Callable[[Deployment], int] = lambda _d: 0
    latency: Callable[[Deployment], float | None] = lambda _d: None
    cost: Callable[[Deployment], float | None] = lambda _d: None
    #: The pool's custom metric (``lowest_metric``), from ``model_metrics_sources``.
    metric: Callable[[Deployment], float | None] = lambda _d: None


def _weighted(members: Sequence[Member], s: Signals) -> list[Deployment]:
    # Sorting by u ** (1/w) gives a random permutation where each member comes first with
    # probability weight / total, and so on down the list: a full fallback order in one pass.
    keyed = [(s.random() ** (1.0 / m.weight), i) for i, m in enumerate(members)]
    keyed.sort(reverse=True)
    return [members[i].deployment for _, i in keyed]


def _rotated(members: Sequence[Member], turn: int) -> list[Deployment]:
    n = len(members)
    start = turn % n
    return [members[(start + k) % n].deployment for k in range(n)]


def _round_robin(members: Sequence[Member], s: Signals) -> list[Deployment]:
    return _rotated(members, s.turn)


def _least_busy(members: Sequence[Member], s: Signals) -> list[Deployment]:
    rotated = _rotated(members, s.turn)
    return sorted(rotated, key=s.in_flight)  # stable: ties keep the rotation


def _lowest_latency(members: Sequence[Member], s: Signals) -> list[Deployment]:
    deps = _rotated(members, s.turn)
    measured = [(lat, i) for i, d in enumerate(deps) if (lat := s.latency(d)) is not None]
    unmeasured = [d for d in deps if s.latency(d) is None]
    return unmeasured + [deps[i] for _, i in sorted(measured)]


def _cheapest(members: Sequence[Member], s: Signals) -> list[Deployment]:
    deps = [m.deployment for m in members]
    priced = [(c, i) for i, d in enumerate(deps) if (c := s.cost(d)) is not None]
    unpriced = [d for d in deps if s.cost(d) is None]
    return [deps[i] for _, i in sorted(priced)] + unpriced


def _lowest_metric(members: Sequence[Member], s: Signals) -> list[Deployment]:
    deps = [m.deployment for m in members]
    known = [(v, i) for i, d in enumerate(deps) if (v := s.metric(d)) is not None]
    unknown = [d for d in deps if s.metric(d) is None]
    return [deps[i] for _, i in sorted(known)] + unknown


ORDERS: Final[dict[str, Callable[[Sequence[Member], Signals], list[Deployment]]]] = {
    "weighted": _weighted,
    "round_robin": _round_robin,
    "least_busy": _least_busy,
    "lowest_latency": _lowest_latency,
    "cheapest": _cheapest,
    "lowest_metric": _lowest_metric,
}


def order(strategy: str, members: Sequence[Member], signals: Signals) -> list[Deployment]:
    """The pool's deployments in the order to try them."""
    if len(members) == 1:
        return [members[0].deployment]
    return ORDERS[strategy](members, signals)
