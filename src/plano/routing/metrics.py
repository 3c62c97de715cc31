"""Routing counters and their metric names (the names are the constants below, nowhere else).

:class:`RoutingCounters` is a plain in-process counter set that the metrics exporter can read
with :meth:`RoutingCounters.snapshot`; label values are config names (pools, rules, routes,
deployments) or fixed words, never request data.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AFFINITY_HITS",
    "BREAKER_TRANSITIONS",
    "DECISIONS",
    "FALLBACKS",
    "ROUTER_FAILURES",
    "SHARED_PINS",
    "TOKENS_COUNTED",
    "RoutingCounters",
]

#: Routing decisions, by how the plan was chosen (``kind``) and its name (rule/route/pool).
DECISIONS: Final = "plano_routing_decisions_total"
#: Moves from a failed attempt to the next one, by deployment and error label.
FALLBACKS: Final = "plano_routing_fallbacks_total"
#: Circuit-breaker state changes, by deployment and new state.
BREAKER_TRANSITIONS: Final = "plano_routing_breaker_transitions_total"
#: Preference-router failures (time-out, error, unusable answer) that fell back to the default.
ROUTER_FAILURES: Final = "plano_routing_router_failures_total"
#: Prompts whose input tokens had to be counted exactly (off the event loop) because cheap
#: bounds could not settle a context-window or ``input_tokens`` decision.
TOKENS_COUNTED: Final = "plano_routing_tokens_counted_total"
#: Requests that stayed on their session's deployment.
AFFINITY_HITS: Final = "plano_routing_affinity_hits_total"
#: Lookups of a session's pin in the shared store (this process did not have it), by
#: ``result``: ``hit`` or ``miss`` (none, an error, or no answer in time).
SHARED_PINS: Final = "plano_routing_shared_pin_lookups_total"


class RoutingCounters:
    """Monotonic counters keyed by (metric name, label values)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    def inc(self, metric: str, /, **labels: str) -> None:
        # Callers pass labels in a fixed order per metric, so no sort on the hot path.
        key = (metric, tuple(labels.items()))
        self._values[key] = self._values.get(key, 0) + 1

    def get(self, metric: str, /, **labels: str) -> int:
        return self._values.get((metric, tuple(labels.items())), 0)

    def total(self, metric: str) -> int:
        return sum(v for (n, _), v in self._values.items() if n == metric)

    def snapshot(self) -> list[dict[str, object]]:
        """Every counter as ``{"name", "labels", "value"}``, for exporters and the admin API."""
        return [
            {"name": name, "labels": dict(labels), "value": value}
            for (name, labels), value in sorted(self._values.items())
        ]
