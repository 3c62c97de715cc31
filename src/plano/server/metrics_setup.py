"""The metrics a runtime snapshot feeds besides finished requests: gauges and totals read
from live state when a snapshot of the metrics is taken (in-flight requests per listener,
breaker states, the router's counters, store health, the usage writer) and, at scrape time,
the global budgets' spend from the hot store. Registered per snapshot under fixed keys, so a
reload replaces the old snapshot's collectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from plano.config import PlanoConfig
from plano.limits.budgets import BudgetRule
from plano.limits.report import budget_report
from plano.observe.metrics import Counter, MetricsRegistry
from plano.observe.metrics_gateway import IN_FLIGHT, ModelLabels
from plano.routing import metrics as rm
from plano.routing.smart import SmartRouter
from plano.server.listeners import ModelListener
from plano.store.setup import StateStores

__all__ = [
    "BREAKER_STATE",
    "BUDGET_LIMIT_USD",
    "BUDGET_USED_TOKENS",
    "BUDGET_USED_USD",
    "STORE_UP",
    "USAGE_DROPPED",
    "USAGE_QUEUED",
    "install_collectors",
    "listener_in_flight",
]

BREAKER_STATE = "plano_breaker_state"
STORE_UP = "plano_store_up"
USAGE_QUEUED = "plano_usage_records_queued"
USAGE_DROPPED = "plano_usage_records_dropped_total"
BUDGET_USED_USD = "plano_budget_used_usd"
BUDGET_LIMIT_USD = "plano_budget_limit_usd"
BUDGET_USED_TOKENS = "plano_budget_used_tokens"
BUDGET_LIMIT_TOKENS = "plano_budget_limit_tokens"
_STATES = ("closed", "half_open", "open")

#: The router's counters (``routing/metrics.py``) and their label names.
ROUTING_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (rm.DECISIONS, "Routing decisions, by kind and rule/route name.", ("kind", "name")),
    (rm.FALLBACKS, "Moves to the next deployment, by deployment and reason.",
     ("deployment", "reason")),
    (rm.BREAKER_TRANSITIONS, "Circuit-breaker state changes.", ("deployment", "state")),
    (rm.ROUTER_FAILURES, "Preference-router failures that took the default route.",
     ("reason",)),
    (rm.TOKENS_COUNTED, "Prompts whose tokens were counted for a routing decision.", ("how",)),
    (rm.AFFINITY_HITS, "Requests that stayed on their session's deployment.", ()),
    (rm.SHARED_PINS, "Lookups of a session pin in the shared store.", ("result",)),
)  # fmt: skip


def install_collectors(
    registry: MetricsRegistry,
    config: PlanoConfig,
    *,
    in_flight: Callable[[], Iterable[tuple[str, int]]],
    router: SmartRouter,
    labels: ModelLabels,
    stores: StateStores,
) -> None:
    """Register this snapshot's collectors (replacing the previous snapshot's)."""
    flight = registry.gauge(IN_FLIGHT, "Requests being served, by listener.", ("listener",))
    breaker = registry.gauge(
        BREAKER_STATE,
        "Circuit breakers: 1 for the state each deployment's breaker is in (the worst any "
        "worker sees).",
        ("provider", "model", "state"),
        merge="max",
    )
    store_up = registry.gauge(
        STORE_UP,
        "1 while a store answers as its users last found it, 0 when degraded (the worst any "
        "worker sees).",
        ("store", "backend"),
        merge="min",
    )
    queued = registry.gauge(USAGE_QUEUED, "Usage records waiting for the usage log.")
    dropped = registry.counter(USAGE_DROPPED, "Usage records dropped (queue full, store down).")
    routing = {name: registry.counter(name, text, names) for name, text, names in ROUTING_FAMILIES}

    def collect() -> None:
        flight.clear()
        for listener, n in in_flight():
            flight.set((listener,), n)
        breaker.clear()
        for entry in router.health.entries():
            provider, model = labels(entry.name)
            state = entry.breaker.state
            for s in _STATES:
                key = (provider, model, s)
                breaker.set(key, max(breaker.values.get(key, 0), int(s == state)))
        _routing(routing, router)
        store_up.clear()
        for name, health in stores.health.items():
            store_up.set((name, health.backend), int(health.ok))
        queued.set((), stores.writer.queued)
        dropped.set((), stores.writer.dropped)

    registry.collector("runtime", collect)
    _budgets(registry, config, stores)


def _routing(families: dict[str, Counter], router: SmartRouter) -> None:
    for item in router.counters.snapshot():
        family = families.get(str(item["name"]))
        labels = item["labels"]
        if family is None or not isinstance(labels, dict):
            continue
        value = item["value"]
        key = tuple(str(labels.get(n, "")) for n in family.labelnames)
        family.set(key, value if isinstance(value, int) else 0)


def _budgets(registry: MetricsRegistry, config: PlanoConfig, stores: StateStores) -> None:
    """Global budgets' spend in the current period (shared already: read by the scraping
    process alone). Scoped budgets have one counter per key, user, team...: not labels."""
    rules = [BudgetRule.of(b) for b in config.budgets if b.scope == "global"]
    names = ("budget", "period")
    used_usd = registry.gauge(
        BUDGET_USED_USD, "Global budgets: dollars spent this period.", names, merge="local"
    )
    limit_usd = registry.gauge(
        BUDGET_LIMIT_USD, "Global budgets: dollar limit per period.", names, merge="local"
    )
    used_tok = registry.gauge(
        BUDGET_USED_TOKENS, "Global budgets: tokens used this period.", names, merge="local"
    )
    limit_tok = registry.gauge(
        BUDGET_LIMIT_TOKENS, "Global budgets: token limit per period.", names, merge="local"
    )

    async def collect() -> None:
        rows = await budget_report(rules, stores.counters, None) if rules else []
        for family in (used_usd, limit_usd, used_tok, limit_tok):
            family.clear()
        for row in rows:
            key = (str(row["name"]), str(row["period"]))
            if row.get("usd") is not None:
                limit_usd.set(key, float(Decimal(row["usd"])))
                used_usd.set(key, float(Decimal(row.get("used_usd") or 0)))
            if row.get("tokens") is not None:
                limit_tok.set(key, int(row["tokens"]))
                used_tok.set(key, int(row.get("used_tokens") or 0))

    registry.async_collector("budgets", collect)


def listener_in_flight(listeners: Iterable[object]) -> list[tuple[str, int]]:
    """Requests each model listener is serving (its gateway's admission count)."""
    return [
        (lst.spec.name, lst.gateway.in_flight)
        for lst in listeners
        if isinstance(lst, ModelListener)
    ]
