"""The smart router: pools, rules, preference routes, capability filtering, circuit breakers,
Retry-After cool-downs and session affinity behind the one :class:`~plano.routing.router.
Router` protocol.

A plan is built in this order::

    rules           the first matching rule names the target (pool, alias or model)
    preferences     else, if routing_preferences apply, a route chooser picks a route whose
                    models are ordered by selection_policy.prefer (cheapest / fastest / none)
    requested       else the requested name
    expand          each name -> deployments (a pool's strategy orders its members)
    fallbacks       the rule's / pool's fallbacks, then fallback.models[requested or '*']
    capabilities    deployments that cannot serve the request (context, tools, images) drop out
    affinity        the session's deployment goes first while it is healthy

Everything but the route chooser is synchronous and pure given the clock, the random source
and the health board, so :meth:`SmartRouter.plan` returns a :class:`Plan` directly unless a
router model has to be asked, tokens counted, or (with shared pins, ``routing/pins.py``) a
session's pin looked up in the shared store because this process does not have it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from plano.config.routing import Backoff
from plano.core.model import ChatRequest
from plano.errors import InvalidRequest, PlanoError, UnsupportedCapability
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.routing import metrics as m
from plano.routing.affinity import AffinityMap, Pin
from plano.routing.capabilities import CapabilityTable, cannot_serve
from plano.routing.catalog import ModelCatalog
from plano.routing.failures import HEALTH_FAILURES, classify
from plano.routing.health import HealthBoard
from plano.routing.model_metrics import MetricsView
from plano.routing.pins import SharedPins
from plano.routing.preference import Route, RouteChooser
from plano.routing.router import FallbackPolicy, Plan
from plano.routing.rules import NamePattern, RequestFacts, Rule, TokensNeeded, first_match
from plano.routing.strategies import Member, Signals, order

__all__ = ["Pool", "PreferenceSettings", "RoutingTables", "SmartRouter"]

log = logging.getLogger("plano.routing")


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    strategy: str
    members: tuple[Member, ...]
    fallbacks: tuple[str, ...] = ()
    #: The custom metric ``lowest_metric`` orders by.
    metric: str | None = None


@dataclass(slots=True)
class RoutingTables:
    pools: dict[str, Pool] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    #: ``fallback.models``: requested name (or ``*``) -> fallback names.
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreferenceSettings:
    timeout: float = 3.0
    default_route: str | None = None
    apply_to: tuple[str, ...] = ("*",)


class SmartRouter:
    def __init__(
        self,
        catalog: ModelCatalog,
        tables: RoutingTables,
        *,
        policy: FallbackPolicy | None = None,
        backoff: Backoff | None = None,
        health: HealthBoard | None = None,
        affinity: AffinityMap | None = None,
        capabilities: CapabilityTable | None = None,
        chooser: RouteChooser | None = None,
        backup: RouteChooser | None = None,
        preference: PreferenceSettings | None = None,
        prices: Callable[[Deployment], tuple[float, float] | None] | None = None,
        count: Callable[[ChatRequest], Awaitable[int]] | None = None,
        sample: Callable[[ChatRequest], Awaitable[float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        counters: m.RoutingCounters | None = None,
        shared_pins: SharedPins | None = None,
        tenant_header: str | None = None,
        metrics: MetricsView | None = None,
    ) -> None:
        self.catalog = catalog
        self.tables = tables
        self.policy = policy or FallbackPolicy()
        self.backoff_settings = backoff or Backoff()
        self.health = health or HealthBoard()
        self.affinity = affinity or AffinityMap()
        self.capabilities = capabilities or CapabilityTable()
        self.chooser = chooser
        #: Asked when ``chooser`` fails or times out (the offline embedding chooser).
        self.backup = backup
        self._backup_told = False
        self.preference = preference or PreferenceSettings()
        self._apply_to = NamePattern(self.preference.apply_to)
        self._routes = {r.name: r for r in tables.routes}
        self._prices = prices or (lambda _d: None)
        #: Exact input-token count, off the event loop; None: the estimate decides.
        self._count = count
        #: A tokenized sample's estimate of the input tokens, off the event loop.
        self._sample = sample
        self.clock = clock
        self.rng = rng or random.Random()
        self.counters = counters or m.RoutingCounters()
        #: Pins shared with the other processes (``None``: this process's map only).
        self.shared_pins = shared_pins
        #: The header whose value scopes session ids per tenant (``session_cache``).
        self.tenant_header = tenant_header.lower() if tenant_header else None
        self._turns: dict[str, int] = {}
        #: ``model_metrics_sources``' current values (polled elsewhere, read as plain data).
        self.metrics = metrics

    # ------------------------------------------------------------------ Router protocol

    def plan(self, ctx: RequestContext) -> Plan | Awaitable[Plan]:
        req = ctx.request
        assert req is not None
        facts = RequestFacts(req, ctx.headers, self._count, ctx.labels, self._sample)
        if self.shared_pins is not None:
            session = self.session_key(facts)
            if session and self.affinity.get(session, facts.model, self.clock()) is None:
                return self._fetch_pin_then_plan(ctx, facts, session, self.shared_pins)
        return self._plan(ctx, facts)

    def session_key(self, facts: RequestFacts) -> str | None:
        """The session's affinity key, scoped by the tenant header when one is configured."""
        session = facts.session
        if not session or self.tenant_header is None:
            return session
        return f"{facts.headers.get(self.tenant_header, '')}\0{session}"

    async def _fetch_pin_then_plan(
        self, ctx: RequestContext, facts: RequestFacts, session: str, shared: SharedPins
    ) -> Plan:
        """The session's pin from the shared store (a miss on error or time-out), into the
        local map, then the plan as usual."""
        found = await shared.get(session, facts.model)
        if found is not None and (found.route is None or found.route in self._routes):
            at = self.clock() - found.age
            self.affinity.put(session, facts.model, found.deployment, found.route, at)
            self.counters.inc(m.SHARED_PINS, result="hit")
        else:
            self.counters.inc(m.SHARED_PINS, result="miss")
        plan = self._plan(ctx, facts)
        return plan if isinstance(plan, Plan) else await plan

    def _plan(self, ctx: RequestContext, facts: RequestFacts) -> Plan | Awaitable[Plan]:
        try:
            rule = first_match(self.tables.rules, facts)
        except TokensNeeded:  # nothing was recorded yet: plan again once counted
            return self._count_then(facts, lambda: self._plan(ctx, facts))
        if rule is not None:
            self.counters.inc(m.DECISIONS, kind="rule", name=rule.name)
            return self._finish(ctx, facts, [rule.target], rule.fallbacks, rule.name, "none")
        if self._routes and self._apply_to.matches(facts.model):
            pin = self._pin(facts)
            if pin is not None:  # the conversation keeps its route: no router call
                return self._routed(ctx, facts, pin.route)
            return self._choose_then_plan(ctx, facts)
        self.counters.inc(m.DECISIONS, kind="model", name="")
        return self._finish(ctx, facts, [facts.model], (), None, "none")

    async def _count_then(
        self, facts: RequestFacts, then: Callable[[], Plan | Awaitable[Plan]]
    ) -> Plan:
        """Refine the token bounds (a sample, then an exact count) until ``then`` decides."""
        while True:
            await facts.refine()
            self.counters.inc(m.TOKENS_COUNTED, how="exact" if facts.counted else "sample")
            try:
                plan = then()
            except TokensNeeded:
                continue
            return plan if isinstance(plan, Plan) else await plan

    def direct_plan(self, ctx: RequestContext) -> Plan | Awaitable[Plan]:
        """The requested name only: no rules, no preference routing (the router model's own
        calls use this, so they cannot recurse)."""
        assert ctx.request is not None
        facts = RequestFacts(ctx.request, ctx.headers, self._count, ctx.labels, self._sample)
        return self._finish(ctx, facts, [facts.model], (), None, "none")

    def report(
        self, dep: Deployment, error: PlanoError | None, latency_ms: float, ttft_ms: float | None
    ) -> None:
        now = self.clock()
        if error is None:
            changed = self.health.record(
                self.health_key(dep), now, failed=False, latency_ms=latency_ms, ttft_ms=ttft_ms
            )
        else:
            kind = classify(error)
            failed = kind in HEALTH_FAILURES
            retry_after = error.retry_after if kind == "rate_limit" else None
            # Refusals about the request (400s) still show the deployment is up.
            changed = self.health.record(
                self.health_key(dep), now, failed=failed, retry_after=retry_after
            )
        if changed is not None:
            self.counters.inc(m.BREAKER_TRANSITIONS, deployment=dep.metric_key, state=changed)
            log.info("circuit breaker of %s is now %s", dep.key, changed)

    def backoff(self, attempt: int, error: PlanoError) -> float:
        b = self.backoff_settings
        base = min(b.max, b.initial * b.multiplier**attempt)
        return base * (1.0 - b.jitter * self.rng.random())

    def health_key(self, dep: Deployment) -> str:
        """Where a deployment's health is kept (bounded for wildcard-made deployments)."""
        return self.health.key_for(dep.key, dep.group)

    # ------------------------------------------------------------------ preference routing

    async def _choose_then_plan(self, ctx: RequestContext, facts: RequestFacts) -> Plan:
        name = await self.choose_route(facts.request)
        plan = self._routed(ctx, facts, name)
        return plan if isinstance(plan, Plan) else await plan

    async def choose_route(self, req: ChatRequest) -> str | None:
        """The route for a conversation; the default route when the chooser fails or times
        out (never an error for the client)."""
        name: str | None = None
        if self.chooser is not None:
            try:
                async with asyncio.timeout(self.preference.timeout):
                    name = await self.chooser.choose(req.messages, self.tables.routes)
            except TimeoutError:
                self.counters.inc(m.ROUTER_FAILURES, reason="timeout")
                name = await self._backup_route(req, "timed out")
            except Exception as exc:  # any failure of the router model: backup, default
                self.counters.inc(m.ROUTER_FAILURES, reason="error")
                name = await self._backup_route(req, f"failed ({type(exc).__name__})")
        return name if name is not None else self.preference.default_route

    async def _backup_route(self, req: ChatRequest, why: str) -> str | None:
        if self.backup is None:
            log.warning("preference router %s; using the default route", why)
            return None
        if not self._backup_told:
            self._backup_told = True
            log.warning("preference router %s; the embedding router decides (said once)", why)
        try:
            return await self.backup.choose(req.messages, self.tables.routes)
        except Exception:
            log.exception("the backup route chooser failed; using the default route")
            return None

    def _routed(
        self, ctx: RequestContext, facts: RequestFacts, name: str | None
    ) -> Plan | Awaitable[Plan]:
        route = self._routes.get(name) if name is not None else None
        if route is None:
            self.counters.inc(m.DECISIONS, kind="no_route", name="")
            return self._finish(ctx, facts, [facts.model], (), None, "none")
        self.counters.inc(m.DECISIONS, kind="route", name=route.name)
        return self._finish(ctx, facts, list(route.models), (), route.name, route.prefer)

    # ------------------------------------------------------------------ building the plan

    def _finish(
        self,
        ctx: RequestContext,
        facts: RequestFacts,
        targets: Sequence[str],
        fallbacks: Sequence[str],
        route: str | None,
        prefer: str,
    ) -> Plan | Awaitable[Plan]:
        deps: list[Deployment] = []
        for name in targets:
            deps += self._expand(name, facts)
        if prefer != "none":
            strategy = "cheapest" if prefer == "cheapest" else "lowest_latency"
            deps = order(strategy, [Member(d) for d in deps], self._signals(route or "", facts))
        extra = [*fallbacks, *self._pool_fallbacks(targets)] if self.tables.pools else [*fallbacks]
        extra += self.tables.fallbacks.get(facts.model) or self.tables.fallbacks.get("*") or ()
        for name in extra:
            deps += self._expand(name, facts)
        try:
            return self._settle(ctx, facts, deps, route)
        except TokensNeeded:  # the expansion above is not repeated: only the filtering
            return self._count_then(facts, lambda: self._settle(ctx, facts, deps, route))

    def _settle(
        self, ctx: RequestContext, facts: RequestFacts, deps: list[Deployment], route: str | None
    ) -> Plan:
        """Capability filter, healthy first, session pin: the plan."""
        if len(deps) > 1:
            deps = self._healthy_first(self._usable(_unique(deps), facts))
        else:
            deps = self._usable(deps, facts)
        pin = self._pin(facts)
        if pin is not None:
            deps = self._pinned_first(deps, pin)
        ctx.route = route
        tracker = _Tracker(self, self.session_key(facts), facts.model, route)
        return Plan(deps, route=route, policy=self.policy, tracker=tracker)

    def _expand(self, name: str, facts: RequestFacts) -> list[Deployment]:
        pool = self.tables.pools.get(name)
        if pool is None:
            target = self.catalog.aliases.get(name)
            pool = self.tables.pools.get(target) if target is not None else None
        if pool is None:
            return [self.catalog.resolve(name)]
        turn = self._turns.get(pool.name, 0)
        self._turns[pool.name] = turn + 1
        signals = self._signals(pool.name, facts, turn, pool.metric)
        return order(pool.strategy, pool.members, signals)

    def _pool_fallbacks(self, targets: Sequence[str]) -> list[str]:
        out: list[str] = []
        for name in targets:
            pool = self.tables.pools.get(name) or self.tables.pools.get(
                self.catalog.aliases.get(name, "")
            )
            if pool is not None:
                out += pool.fallbacks
        return out

    def _signals(
        self, _key: str, facts: RequestFacts, turn: int = 0, metric: str | None = None
    ) -> Signals:
        health = self.health
        stream = facts.stream
        signals = Signals(
            random=self.rng.random,
            turn=turn,
            in_flight=lambda d: health.get(self.health_key(d)).in_flight,
            latency=lambda d: health.get(self.health_key(d)).latency(stream),
            cost=lambda d: self._cost(d, facts),
        )
        return signals if self.metrics is None else _sourced(signals, self.metrics, metric)

    def _cost(self, dep: Deployment, facts: RequestFacts) -> float | None:
        rates = self._prices(dep)
        if rates is None:
            return None
        out = facts.max_tokens or 256
        return facts.approx_tokens() * rates[0] + out * rates[1]

    def _usable(self, deps: list[Deployment], facts: RequestFacts) -> list[Deployment]:
        usable: list[Deployment] = []
        refused: list[str] = []
        for dep in deps:
            why = cannot_serve(self.capabilities.of(dep), facts)
            if why is None:
                usable.append(dep)
            else:
                refused.append(f"{dep.key} {why}")
        if usable:
            return usable
        detail = "; ".join(refused)
        if "context window" in detail:
            raise InvalidRequest(
                f"No configured model can take this request: {detail}.",
                code="context_length_exceeded",
            )
        raise UnsupportedCapability(f"No configured model can serve this request: {detail}.")

    def _healthy_first(self, deps: list[Deployment]) -> list[Deployment]:
        """Cooling deployments and open breakers go last (stable); the fallback loop still
        waits for them when nothing else is left."""
        now = self.clock()
        waits = [self.health.get(self.health_key(d)).ready_at(now) > now for d in deps]
        if not any(waits):
            return deps
        return [d for d, w in zip(deps, waits, strict=True) if not w] + [
            d for d, w in zip(deps, waits, strict=True) if w
        ]

    def _pin(self, facts: RequestFacts) -> Pin | None:
        session = self.session_key(facts)
        if not session:
            return None
        pin = self.affinity.get(session, facts.model, self.clock())
        if pin is None:
            return None
        health = self.health.get(pin.deployment)
        if health.ready_at(self.clock()) > self.clock() or health.breaker.state != "closed":
            return None  # unhealthy: route afresh; a success re-pins the conversation
        return pin

    def _pinned_first(self, deps: list[Deployment], pin: Pin) -> list[Deployment]:
        for i, dep in enumerate(deps):
            if dep.key == pin.deployment:
                self.counters.inc(m.AFFINITY_HITS)
                return [dep, *deps[:i], *deps[i + 1 :]] if i else deps
        return deps

    def status(self) -> dict[str, object]:
        """Health of every deployment and the counters (for the admin API)."""
        now = self.clock()
        return {
            "deployments": self.health.snapshot(now),
            "sessions": len(self.affinity),
            "counters": self.counters.snapshot(),
            "metrics_sources": self.metrics.status() if self.metrics is not None else [],
        }


def _sourced(signals: Signals, metrics: MetricsView, metric: str | None) -> Signals:
    """``signals`` with the values of ``model_metrics_sources``: a source that has answered
    replaces the gateway's own view; one that never has (down, or the bundled-prices
    stand-in) leaves it in place."""
    table = metrics.table()

    def latency(dep: Deployment) -> float:
        # Unknown to the source: last (Plano's rule), not first as unmeasured EWMAs are.
        value = table.value("latency", dep)
        return math.inf if value is None else value

    def cost(dep: Deployment) -> float | None:
        return table.value("cost", dep)

    def custom(dep: Deployment) -> float | None:
        return table.value(metric, dep) if metric is not None else None

    return replace(
        signals,
        latency=latency if table.usable("latency") else signals.latency,
        cost=cost if table.usable("cost") else signals.cost,
        metric=custom,
    )


def _unique(deps: list[Deployment]) -> list[Deployment]:
    seen: set[str] = set()
    out: list[Deployment] = []
    for d in deps:
        if d.key not in seen:
            seen.add(d.key)
            out.append(d)
    return out


class _Tracker:
    """Per-request hooks the fallback loop calls (see ``AttemptTracker``)."""

    __slots__ = ("model", "route", "router", "session")

    def __init__(
        self, router: SmartRouter, session: str | None, model: str, route: str | None
    ) -> None:
        self.router = router
        self.session = session
        self.model = model
        self.route = route

    def now(self) -> float:
        return self.router.clock()

    def ready_at(self, dep: Deployment) -> float:
        r = self.router
        return r.health.get(r.health_key(dep)).ready_at(r.clock())

    def started(self, dep: Deployment) -> None:
        h = self.router.health.get(self.router.health_key(dep))
        h.in_flight += 1
        changed = h.breaker.on_attempt(self.router.clock())
        if changed is not None:
            self.router.counters.inc(
                m.BREAKER_TRANSITIONS, deployment=dep.metric_key, state=changed
            )

    def ended(self, dep: Deployment) -> None:
        self.router.health.get(self.router.health_key(dep)).in_flight -= 1

    def failed_over(self, dep: Deployment, kind: str) -> None:
        self.router.counters.inc(m.FALLBACKS, deployment=dep.metric_key, reason=kind)

    def succeeded(self, dep: Deployment) -> None:
        if self.session:
            r = self.router
            changed = r.affinity.put(self.session, self.model, dep.key, self.route, r.clock())
            if changed and r.shared_pins is not None:
                r.shared_pins.put(self.session, self.model, dep.key, self.route, r.affinity.ttl)
