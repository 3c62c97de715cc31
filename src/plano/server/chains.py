"""Each listener's filter chain, built in one place (:func:`build_chain`): the built-in filters
(auth when ``auth:`` is on, accounting, then Responses API state, the policies and tool rules,
rate limits and budgets when the config declares them, then any a caller adds),
followed by the listener's configured ``input_filters`` / ``output_filters`` from the filter
registry (:func:`plano.filters.build_chain`), and the audit trail's filter last.

Chains belong to a runtime snapshot: started with it, closed when it retires. The resources
the built-in filters write to (the ledger, the response store) outlive snapshots, so the
runtime starts and closes those and the built-ins here leave ``start``/``close`` alone.
Remote filters share the process's :class:`~plano.filters.FilterClient`, which counts its
users: a new snapshot's chain acquires it before the old one's releases it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plano.accounting.filter import AccountingFilter
from plano.accounting.ledger import Ledger
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig
from plano.filters import FilterClient
from plano.filters import build_chain as configured_chain
from plano.filters.audit import AuditFilter, AuditTrail
from plano.filters.auth import AuthFilter
from plano.filters.keys import KeyCache, ModelAccess, StaticKeys
from plano.filters.signals import SignalDesk, SignalsFilter, signals_enabled
from plano.limits import ModelLimits, limit_filters
from plano.limits.ratelimits import RateLimitFilter
from plano.observe.metrics_gateway import GatewayMetrics, MetricsFilter, model_labels
from plano.observe.tracing import TracingHub, filter_span_names
from plano.pipeline.filters import Filter, FilterChain
from plano.policy import policy_filter
from plano.policy.input import SpendReader
from plano.providers.deployment import Deployment
from plano.routing.capabilities import CapabilityTable
from plano.routing.setup import context_window_lookup
from plano.server.agent_budgets import TurnBudgets
from plano.server.agent_usage import AgentUsageFilter
from plano.server.listeners import ListenerSpec
from plano.server.policy_spend import budget_spend
from plano.state import ResponsesStateFilter, ResponseStore
from plano.store.memory import MemoryCounters
from plano.store.setup import StateStores

__all__ = ["ChainParts", "build_chain"]


class _Accounting(AccountingFilter):
    """Accounting into the process's ledger, which the runtime starts and closes: a retired
    snapshot's chain must not stop it."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _ResponsesState(ResponsesStateFilter):
    """Responses API state in a store the runtime closes (a reload keeps conversations)."""

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ChainParts:
    """What the chains of one snapshot are built from."""

    config: PlanoConfig
    ledger: Ledger
    prices: PriceBook
    counter: TokenCounter
    store: ResponseStore
    client: FilterClient
    #: Filters added after the built-ins on every model listener (tests, embedders).
    extra: Sequence[Filter] = ()
    #: What a principal has spent so far, for the policies' ``input.spend``; by default read
    #: from the budgets' counters (``server/policy_spend.py``).
    spend: SpendReader | None = None
    #: The process's stored-key cache (``auth:``); ``None``: no auth filter.
    keys: KeyCache | None = None
    #: The process's audit trail; ``None``: decisions are not recorded.
    audit: AuditTrail | None = None
    #: The process's state stores: budgets and rate limits count in their hot store;
    #: ``None``: this chain's own memory (tests building parts by hand).
    stores: StateStores | None = None
    #: The process's metrics (``None``: requests are not counted).
    metrics: GatewayMetrics | None = None
    #: The process's signal analysis (``None``, or ``overrides.disable_signals``: none).
    signals: SignalDesk | None = None
    #: The process's tracing (``None``, or no ``tracing:`` section: no spans).
    tracing: TracingHub | None = None


def build_chain(spec: ListenerSpec, parts: ChainParts) -> FilterChain:
    """The filter chain of one listener. Listeners without model traffic (admin) get an
    empty chain."""
    declared = next((lst for lst in parts.config.listeners if lst.name == spec.name), None)
    if spec.kind == "agent" and declared is not None:
        return _agent_chain(parts, float(declared.timeout))
    if spec.kind != "model" or declared is None:
        return FilterChain([])
    state = _ResponsesState(parts.store)
    builtins = [
        _Accounting(parts.ledger, parts.prices, parts.counter),
        state,
        # Policies: after auth (ctx.principal) and before budgets, which must see the model
        # and max_tokens a policy routed or capped.
        *_policy(parts),
        # Budgets and rate limits: after auth (they key on its principal) and accounting
        # (whose on_complete prices the usage a budget settles on).
        *_limits(parts, float(declared.timeout)),
        *parts.extra,
    ]
    auth = _auth(parts)
    if auth is not None:
        builtins.insert(0, auth)
    last: list[Filter] = [state.recorder()]
    if parts.signals is not None and signals_enabled(parts.config):  # sees what the client got
        last.append(SignalsFilter(parts.signals))
    if parts.metrics is not None:  # after every filter: their decisions are all made
        last.append(MetricsFilter(parts.metrics, model_labels(parts.config.model_providers)))
    if parts.audit is not None:
        last.append(AuditFilter(parts.audit))
    # Tracing: sampling first (every filter's run is timed, auth's too), the rest last
    # (routing starts after every input filter; on_complete sees the final usage and cost).
    start_end = _tracing(parts)
    if start_end:
        builtins.insert(0, start_end[0])
        last.append(start_end[1])
    return configured_chain(
        parts.config, declared, builtins=builtins, client=parts.client, last=last
    )


def _tracing(parts: ChainParts) -> list[Filter]:
    if parts.tracing is None:
        return []
    config = parts.config
    return parts.tracing.filters(config.tracing, filter_span_names(config.filters))


def _agent_chain(parts: ChainParts, timeout: float) -> FilterChain:
    """An agent listener's chain, run on the client's hop and again on every agent hop: auth
    (the key's ``agents`` globs), the policies (``input.agent``), the audit trail. Agents'
    own ``input_filters`` run in per-agent chains (``server/agent_setup.py``). Each turn is
    a usage-log record (``server/agent_usage.py``) and counts once against the rate limits
    (the agent listener calls them; budgets reserve nothing for a turn)."""
    auth = _auth(parts)
    filters: list[Filter] = [auth] if auth is not None else []
    filters += _policy(parts)
    filters += [f for f in _limits(parts, timeout) if isinstance(f, RateLimitFilter)]
    if parts.config.budgets:
        counters = parts.stores.counters if parts.stores is not None else MemoryCounters()
        filters.append(TurnBudgets(parts.config.budgets, counters))
    filters.append(AgentUsageFilter(parts.ledger))
    if parts.audit is not None:
        filters.append(AuditFilter(parts.audit))
    start_end = _tracing(parts)  # the client's hop samples; agent hops join its trace
    if start_end:
        filters = [start_end[0], *filters, start_end[1]]
    return FilterChain(filters)


def _policy(parts: ChainParts) -> list[Filter]:
    counters = parts.stores.counters if parts.stores is not None else None
    spend = parts.spend
    if spend is None and counters is not None:
        spend = budget_spend(parts.config.budgets, counters)
    policy = policy_filter(parts.config, counters=counters, spend=spend)
    return [policy] if policy is not None else []


def _limits(parts: ChainParts, timeout: float) -> list[Filter]:
    config = parts.config
    if not (config.budgets or config.rate_limits or config.ratelimits):
        return []
    table = CapabilityTable(config.model_capabilities, context_window_lookup())

    def model_limits(dep: Deployment) -> ModelLimits:
        caps = table.of(dep)
        return ModelLimits(caps.context_window, caps.max_output_tokens)

    stores = parts.stores
    return limit_filters(
        config,
        stores.counters if stores is not None else MemoryCounters(),
        parts.prices,
        parts.counter,
        model_limits,
        timeout=timeout,
        health=stores.health["hot"] if stores is not None else None,
    )


def _auth(parts: ChainParts) -> AuthFilter | None:
    """The auth filter when the config turns auth on (first: nothing runs for a caller it
    refuses)."""
    auth = parts.config.auth
    if auth is None or not auth.enabled or parts.keys is None:
        return None
    return AuthFilter(
        StaticKeys(auth.keys), parts.keys, ModelAccess(parts.config), ttl=float(auth.cache_ttl)
    )
