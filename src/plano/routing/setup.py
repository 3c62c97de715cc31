"""Building the :class:`~plano.routing.smart.SmartRouter` from a validated config (start-up
only: every price and capability lookup that costs time happens here, not per request)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from plano.accounting.pricing import PriceBook
from plano.config import PlanoConfig
from plano.config.names import config_names
from plano.config.offline_checks import hosted_router, router_name
from plano.core.model import ChatRequest
from plano.providers.deployment import Deployment
from plano.routing.affinity import AffinityMap
from plano.routing.capabilities import CapabilityTable
from plano.routing.catalog import ModelCatalog
from plano.routing.health import BreakerSettings, HealthBoard
from plano.routing.model_metrics import MetricsView
from plano.routing.pins import SharedPins
from plano.routing.preference import (
    EmbeddingRouteChooser,
    LLMRouteChooser,
    Route,
    RouteChooser,
)
from plano.routing.router import FallbackPolicy
from plano.routing.rules import compile_rule
from plano.routing.smart import Pool, PreferenceSettings, RoutingTables, SmartRouter
from plano.routing.strategies import Member

__all__ = ["context_window_lookup", "price_lookup", "router_from_config"]

log = logging.getLogger("plano.routing")
_MTOK = 1_000_000.0


def _float(price: Any) -> float:
    if price is None:
        return 0.0
    if isinstance(price, Decimal | int | float):
        return float(price)
    return float(getattr(price, "base", 0) or 0)  # tiered: the base tier ranks well enough


def price_lookup(book: PriceBook) -> Callable[[Deployment], tuple[float, float] | None]:
    """USD per input and per output token of a deployment, cached per deployment name."""
    cache: dict[str, tuple[float, float] | None] = {}

    def prices(dep: Deployment) -> tuple[float, float] | None:
        try:
            return cache[dep.key]
        except KeyError:
            pass
        rates = book.rates(dep.price_provider, dep.price_model)
        found = None
        if rates is not None:
            found = (_float(rates.input) / _MTOK, _float(rates.output) / _MTOK)
        if len(cache) < 10_000:
            cache[dep.key] = found
        return found

    return prices


def context_window_lookup() -> Callable[[str, str], int | None]:
    """Context windows from the offline genai-prices catalogue."""
    from genai_prices import Usage, calc_price

    from plano.accounting.pricing import provider_id

    def window(provider: str, model: str) -> int | None:
        for pid in (provider_id(provider), None):
            try:
                calc = calc_price(Usage(input_tokens=1), model_ref=model, provider_id=pid)
            except LookupError:
                continue
            value = getattr(calc.model, "context_window", None)
            return int(value) if value else None
        return None

    return window


def _routes(config: PlanoConfig) -> list[Route]:
    routes = [
        Route(
            r.name,
            r.description,
            tuple(r.models),
            r.selection_policy.prefer if r.selection_policy else "none",
        )
        for r in config.routing_preferences
    ]
    # Plano's deprecated inline form: each provider's routes point at that provider.
    for p in config.model_providers:
        for r in p.routing_preferences:
            routes.append(Route(r.name, r.description, (p.effective_name,)))
    return routes


_told: set[str] = set()


def _chooser(
    config: PlanoConfig, routes: list[Route]
) -> tuple[RouteChooser | None, RouteChooser | None]:
    """``(chooser, backup)``: the LLM router with embeddings behind it; embeddings alone when
    no router model is named or it is the vendor-hosted one (never called: it needs the
    internet)."""
    if not routes:
        return None, None
    pref = config.preference_router
    model = router_name(config)
    embedding = EmbeddingRouteChooser(routes, min_similarity=pref.min_similarity)
    if model and hosted_router(model, config_names(config)):
        if model not in _told:
            _told.add(model)
            log.warning(
                "router model %r is vendor-hosted (needs the internet): routes are chosen "
                "offline by embeddings (said once)",
                model,
            )
        return embedding, None
    kind = pref.type or ("llm" if model else "embedding")
    if kind == "llm" and model:
        user_only = bool(config.routing and config.routing.route_on_user_only)
        llm = LLMRouteChooser(model, user_only=user_only, max_chars=pref.max_context_chars)
        return llm, embedding
    return embedding, None


def _policy(config: PlanoConfig) -> FallbackPolicy:
    f = config.fallback
    attempts = f.max_attempts
    retries = config.model_listener.max_retries
    if attempts is None and retries is not None:
        attempts = retries + 1  # Plano's listener key, when ours is not set
    return FallbackPolicy(
        retry_on=frozenset(f.retry_on),
        max_attempts=attempts,
        deadline=f.deadline,
        attempt_timeout=f.attempt_timeout,
        max_retry_after=f.max_retry_after,
    )


def router_from_config(
    config: PlanoConfig,
    catalog: ModelCatalog,
    prices: PriceBook,
    count: Callable[[ChatRequest], Awaitable[int]],
    *,
    windows: Callable[[str, str], int | None] | None = None,
    sample: Callable[[ChatRequest], Awaitable[float]] | None = None,
    shared_pins: SharedPins | None = None,
    metrics: MetricsView | None = None,
) -> SmartRouter:
    """The router a config describes; ``shared_pins``: where session pins are shared with
    other processes (the process's, kept across reloads), ``None`` for this router's map."""
    pools = {
        name: Pool(
            name,
            pool.strategy,
            tuple(Member(catalog.resolve(m.model), m.weight) for m in pool.deployments),
            tuple(pool.fallbacks),
            pool.metric,
        )
        for name, pool in config.model_pools.items()
    }
    routes = _routes(config)
    chooser, backup = _chooser(config, routes)
    tables = RoutingTables(
        pools=pools,
        rules=[compile_rule(r) for r in config.routing_rules],
        routes=routes,
        fallbacks={k: tuple(v) for k, v in config.fallback.models.items()},
    )
    cb = config.fallback.circuit_breaker
    breaker = BreakerSettings(
        cb.enabled, cb.consecutive_failures, cb.error_rate, cb.min_requests, cb.window, cb.cooldown
    )
    session = config.routing
    cache = session.session_cache if session else None
    pref = config.preference_router
    return SmartRouter(
        catalog,
        tables,
        policy=_policy(config),
        backoff=config.fallback.backoff,
        health=HealthBoard(breaker),
        affinity=AffinityMap(
            float(session.session_ttl_seconds) if session else 600.0,
            session.session_max_entries if session else 10_000,
        ),
        capabilities=CapabilityTable(config.model_capabilities, windows),
        chooser=chooser,
        backup=backup,
        preference=PreferenceSettings(pref.timeout, pref.default_route, tuple(pref.apply_to)),
        prices=price_lookup(prices),
        count=count,
        sample=sample,
        shared_pins=shared_pins,
        tenant_header=cache.tenant_header if cache else None,
        metrics=metrics,
    )
