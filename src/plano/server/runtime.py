"""The runtime: an immutable snapshot of everything a validated config builds, per process.

A :class:`Runtime` holds the catalog, the router, the upstream pool, the response store and
one :class:`~plano.server.listeners.Listener` per listener (its routes, its filter chain, its
Host/Origin guard), with a generation number. :class:`RuntimeHolder` points at the current
one; the serving layer reads ``holder.current`` once when a request arrives, so a reload
(which builds a new snapshot and swaps the pointer) never changes a request mid-way. The
retired snapshot is closed once its last request has finished.

What outlives snapshots is in :class:`Resources` (the token counter, the price book, the
ledger, the state stores with the usage log's writer, the shared session pins and the
routing-health sync, readiness). A new snapshot takes over the old one's routing state for
deployments that still exist (``routing/carryover.py``), its response store when
``state_storage`` did not change, and its upstream connections per origin
(:meth:`Runtime.take_over`).

No sockets here: building a snapshot opens nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from plano.accounting.ledger import Ledger
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.agents.directory import AgentDirectory, LiveDirectory, StaticDirectory
from plano.config import PlanoConfig
from plano.core.redact import SecretScrubber, header_secrets
from plano.filters import FilterClient
from plano.filters.audit import AuditTrail
from plano.filters.keys import KeyCache, StaticKeys
from plano.filters.signals import SignalDesk, signals_enabled
from plano.observe.metrics_gateway import GatewayMetrics, model_labels
from plano.observe.metrics_http import exposition_routes, summary_routes
from plano.observe.metrics_share import MetricsShare
from plano.observe.tracing import TracingHub
from plano.pipeline.filters import Filter, FilterChain
from plano.providers.transport import Timeouts, UpstreamPool
from plano.routing.carryover import CarriedOver, carry_over
from plano.routing.catalog import ModelCatalog
from plano.routing.pins import SharedPins
from plano.routing.preference import EmbeddingRouteChooser, LLMRouteChooser
from plano.routing.setup import context_window_lookup, router_from_config
from plano.routing.shared_health import HealthSync
from plano.routing.smart import SmartRouter
from plano.server.admin import admin_routes, runtime_routes
from plano.server.agents_api import agents_routes, topics_routes
from plano.server.chains import ChainParts, build_chain
from plano.server.dashboard import dashboard_routes
from plano.server.edge import HostPolicy, guard_middleware
from plano.server.gateway import Gateway
from plano.server.keys_api import audit_routes, key_routes
from plano.server.limits_api import budget_routes
from plano.server.listeners import (
    LISTENER_KINDS,
    Listener,
    ListenerParts,
    ListenerSpec,
    ModelListener,
    not_served,
)
from plano.server.metrics_setup import install_collectors, listener_in_flight
from plano.server.model_metrics import MetricsPoller
from plano.server.router_client import GatewayModelCaller
from plano.server.routing_api import status_routes
from plano.server.sessions_api import session_routes
from plano.server.signals_api import signals_routes
from plano.server.signals_spans import install as install_signal_spans
from plano.server.state_setup import ephemeral_settings
from plano.server.traces_api import trace_routes
from plano.state import ResponseStore
from plano.state.setup import store_from_config
from plano.store.setup import StateSettings, StateStores

__all__ = [
    "Handler",
    "InFlight",
    "ListenerView",
    "Resources",
    "Runtime",
    "RuntimeHolder",
    "build_runtime",
]

log = logging.getLogger("plano.runtime")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
State = Literal["starting", "ready", "draining"]


@dataclass(eq=False)
class Resources:
    """What one process keeps across runtime snapshots. The state stores are opened once
    (``state:`` changes need a restart); a snapshot's response store comes from them unless
    ``state_storage`` names its own."""

    counter: TokenCounter
    prices: PriceBook
    ledger: Ledger
    stores: StateStores
    #: Session pins shared with the other processes (``None``: each router's map only).
    pins: SharedPins | None = None
    #: The session remote filters post through (it counts its users across snapshots).
    filter_client: FilterClient = field(default_factory=FilterClient)
    #: When the process started serving.
    started: float = field(default_factory=time.time)
    #: ``/readyz``: ready once a snapshot is loaded and serving; draining on stop.
    state: State = "starting"
    #: Routing health shared with the other processes (started by :meth:`share_health`).
    sync: HealthSync | None = None
    #: This process's metrics, shared with the other workers' (``docs/metrics.md``).
    metrics: MetricsShare = field(default_factory=lambda: MetricsShare(GatewayMetrics(), None))
    #: Stored virtual keys as this process read them (kept across reloads).
    keys: KeyCache = field(init=False)
    #: Decisions and admin actions, to the durable store.
    audit: AuditTrail = field(init=False)
    #: Tracing: the span pipeline and the recent traces (docs/tracing.md).
    tracing: TracingHub = field(init=False)
    #: Agentic signals: the background analysis and its recent results (docs/signals.md).
    signals: SignalDesk = field(default_factory=SignalDesk)
    #: Where agents answer. The default (a :class:`StaticDirectory`) is rebuilt from each
    #: snapshot's ``agents:`` URLs; the agent lifecycle manager swaps in its managed one.
    agents: AgentDirectory = field(default_factory=lambda: StaticDirectory(()))

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.stores.keys, health=self.stores.health["durable"])
        self.audit = AuditTrail(self.stores.audit, self.stores.audit_writer)
        # Plano's fallback for tracing.opentracing_grpc_endpoint, read once at start-up.
        self.tracing = TracingHub(self.stores, os.environ.get("OTEL_TRACING_GRPC_ENDPOINT"))
        self.signals.bind_metrics(self.metrics.metrics.registry)
        install_signal_spans()  # once per process: the tracer's batch asks each request's desk

    @classmethod
    def create(
        cls,
        counter: TokenCounter | None = None,
        access_sink: Callable[[list[bytes]], None] | None = None,
        settings: StateSettings | None = None,
    ) -> Resources:
        """``settings``: where state lives (``server/state_setup.py``); by default, all of
        it in this process's memory."""
        stores = StateStores(settings or ephemeral_settings())
        ledger = Ledger(stores.usage, stores.writer, sink=access_sink)
        pins = None
        if stores.pins is not None:
            pins = SharedPins(stores.pins, health=stores.health.get("pins"))
        return cls(counter or TokenCounter(), PriceBook(), ledger, stores, pins)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ok = self.state == "ready"
        return ok, {"ready": ok, "state": self.state, **self.stores.status()}

    async def start(self) -> None:
        await self.stores.start()
        await self.ledger.start()
        await self.metrics.start()

    async def share_health(self, router: Callable[[], SmartRouter]) -> None:
        """Start sharing routing health (``router``: the current snapshot's router), when the
        hot store is shared with other processes."""
        interval = self.stores.settings.health_sync
        topics = self.stores.health_topics
        if self.sync is None and topics is not None and interval is not None:
            self.sync = HealthSync(topics, router, interval, health=self.stores.health["hot"])
            await self.sync.start()

    async def close(self, within: float = 10.0) -> None:
        """Stop the sync, write the ledger's queue (``within`` seconds), close the stores."""
        if self.sync is not None:
            await self.sync.close()
        await self.ledger.close()
        if self.pins is not None:
            await self.pins.close()
        await self.tracing.close(min(within, 5.0))  # its recent traces go to the stores
        await self.stores.close(within)
        await self.filter_client.close()
        await self.signals.close()
        await self.metrics.close()


class InFlight:
    """Requests a snapshot is serving (counted by the serving layer, so a retired snapshot
    is closed only once it reaches zero)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


@dataclass(frozen=True, eq=False, slots=True)
class ListenerView:
    """A listener as the serving layer calls it: the guard and the handlers, in route order."""

    listener: Listener
    guard: Guard
    routes: tuple[web.RouteDef, ...]
    handlers: tuple[Handler, ...]

    @property
    def spec(self) -> ListenerSpec:
        return self.listener.spec

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """The method/path list: the same in every snapshot (the app is registered once)."""
        return tuple((r.method, r.path) for r in self.routes)


@dataclass(frozen=True, eq=False)
class Runtime:
    """One immutable snapshot. Only ``in_flight`` and ``background`` change after it is
    built (they count and hold work; they configure nothing)."""

    generation: int
    config: PlanoConfig
    catalog: ModelCatalog
    router: SmartRouter
    pool: UpstreamPool
    store: ResponseStore
    resources: Resources
    views: tuple[ListenerView, ...]
    #: Routing state taken over from the previous snapshot.
    carried: CarriedOver | None = None
    loaded_at: float = field(default_factory=time.time)
    in_flight: InFlight = field(default_factory=InFlight)
    background: list[asyncio.Future[None]] = field(default_factory=list)
    #: ``model_metrics_sources`` polled for this snapshot's router (docs/model-metrics.md).
    model_metrics: MetricsPoller | None = None

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(v.listener for v in self.views)

    def chains(self) -> list[FilterChain]:
        unique: dict[int, FilterChain] = {}
        for v in self.views:
            unique.setdefault(id(v.listener.chain), v.listener.chain)
        return list(unique.values())

    def model_gateway(self) -> Gateway:
        """The first model listener's gateway."""
        for v in self.views:
            if isinstance(v.listener, ModelListener):
                return v.listener.gateway
        raise LookupError("the runtime has no model listener")

    def origins(self) -> set[str]:
        return {UpstreamPool.origin(d.base_url) for d in self.catalog.all_deployments()}

    async def start(self) -> None:
        """Start the filter chains; load the embedding router in a thread (until it is
        loaded, requests take the default route)."""
        for chain in self.chains():
            await chain.start()
        if self.model_metrics is not None:
            await self.model_metrics.start()
        for chooser in (self.router.chooser, self.router.backup):
            if isinstance(chooser, EmbeddingRouteChooser) and not chooser.loaded:
                loop = asyncio.get_running_loop()
                self.background.append(loop.run_in_executor(None, _load_routes, chooser))

    def take_over(self, previous: Runtime) -> list[str]:
        """Take the previous snapshot's upstream connections for the origins this one still
        calls; called just before the swap. Returns the origins taken."""
        return self.pool.adopt(previous.pool, sorted(self.origins()))

    async def close(self, successor: Runtime | None = None) -> None:
        """Close what this snapshot owns once its requests are done: its chains, its
        pool's sessions that no successor took, and its store unless the successor kept it."""
        for fut in self.background:
            with contextlib.suppress(Exception):
                await fut
        for chain in self.chains():
            await chain.close()
        await self.pool.close()
        if self.model_metrics is not None:
            await self.model_metrics.close()
        if successor is None or successor.store is not self.store:
            await self.store.close()

    def status(self) -> dict[str, Any]:
        """``GET /plano/v1/status``."""
        res = self.resources
        carried = self.carried
        return {
            "generation": self.generation,
            "state": res.state,
            "pid": os.getpid(),
            "workers": self.config.gateway.workers,
            "uptime_s": round(time.time() - res.started, 1),
            "loaded_at": self.loaded_at,
            "in_flight": self.in_flight.n,
            **res.stores.status(),
            "auth": self._auth_status(),
            "listeners": [
                {
                    "name": v.spec.name,
                    "type": v.spec.kind,
                    "url": v.spec.url,
                    "source": v.spec.source,
                    "admin": v.spec.admin or v.spec.kind == "admin",
                    "tls": "mutual" if v.spec.mutual else v.spec.tls,
                    "filters": [f.name for f in v.listener.chain.filters],
                }
                for v in self.views
            ],
            "not_served": not_served(self.config),
            "carried_over": None
            if carried is None
            else {
                "deployments": list(carried.deployments),
                "dropped": list(carried.dropped),
                "sessions": carried.sessions,
            },
        }

    def _auth_status(self) -> dict[str, Any]:
        auth = self.config.auth
        return {
            "enabled": auth is not None and auth.enabled,
            "static_keys": len(auth.keys) if auth is not None else 0,
            "cache_ttl": float(auth.cache_ttl) if auth is not None else None,
            "key_cache": self.resources.keys.stats(),
        }


class RuntimeHolder:
    """The current snapshot. Requests read :attr:`current` once, when they arrive."""

    __slots__ = ("current",)

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

    def swap(self, runtime: Runtime) -> Runtime:
        old, self.current = self.current, runtime
        return old


def _load_routes(chooser: EmbeddingRouteChooser) -> None:
    try:
        chooser.load()
    except Exception:
        log.exception("could not load the embedding router; using default routes")


def _router(
    config: PlanoConfig,
    catalog: ModelCatalog,
    resources: Resources,
    metrics: MetricsPoller | None = None,
) -> SmartRouter:
    counter = resources.counter
    return router_from_config(
        config,
        catalog,
        resources.prices,
        counter.count_request_async,
        windows=context_window_lookup(),
        sample=counter.sample_request_async,
        shared_pins=resources.pins,
        metrics=metrics,
    )


def _store(
    config: PlanoConfig,
    previous: Runtime | None,
    given: ResponseStore | None,
    resources: Resources,
) -> ResponseStore:
    if given is not None:
        return given
    if previous is not None and previous.config.state_storage == config.state_storage:
        return previous.store  # conversations survive the reload
    stores = resources.stores
    return store_from_config(config.state_storage, stores.db, shared=stores.settings.workers > 1)


class _Chains:
    """One chain per listener name, built on first use."""

    def __init__(self, parts: ChainParts, specs: Sequence[ListenerSpec]) -> None:
        self._parts = parts
        self._chains: dict[str, FilterChain] = {}
        model = next((s for s in specs if s.kind == "model"), None)
        self.first = self(model) if model is not None else FilterChain([])

    def __call__(self, spec: ListenerSpec) -> FilterChain:
        if spec.name not in self._chains:
            self._chains[spec.name] = build_chain(spec, self._parts)
        return self._chains[spec.name]


def build_runtime(
    config: PlanoConfig,
    resources: Resources,
    specs: Sequence[ListenerSpec],
    *,
    generation: int = 1,
    previous: Runtime | None = None,
    store: ResponseStore | None = None,
    extra_filters: Sequence[Filter] = (),
) -> Runtime:
    """The snapshot for a validated config. With ``previous`` (a reload), routing state is
    carried over and the response store kept when ``state_storage`` is unchanged. ``store``
    and ``extra_filters`` are for embedders and tests."""
    g = config.gateway
    catalog = ModelCatalog(config.model_providers, config.model_aliases)
    pool = UpstreamPool(
        Timeouts(connect=g.connect_timeout, first_byte=g.first_byte_timeout),
        # Provider errors echo keys; an agent's errors may echo its configured headers.
        scrubber=SecretScrubber.from_catalog(
            catalog, also=header_secrets(h for a in config.agents for h in a.headers.items())
        ),
        tls=config.tls_material.upstream if config.tls_material is not None else None,
    )
    store = _store(config, previous, store, resources)
    metric_sources = _metric_sources(config, previous)
    router = _router(config, catalog, resources, metric_sources)
    carried = carry_over(previous.router, router) if previous is not None else None
    chains = _Chains(_chain_parts(config, resources, store, extra_filters), specs)
    if isinstance(router.chooser, LLMRouteChooser):
        router.chooser.complete = GatewayModelCaller(router, pool, chains.first).complete
    built: list[Runtime] = []  # the snapshot, once built, for its status endpoint
    admin = _admin_routes(config, resources, router, chains.first, lambda: built[0].status())
    parts = _listener_parts(config, resources, catalog, router, pool, store, chains, admin)
    views = tuple(_view(LISTENER_KINDS[s.kind](s, parts), config) for s in specs)
    runtime = Runtime(
        generation,
        config,
        catalog,
        router,
        pool,
        store,
        resources,
        views,
        carried,
        model_metrics=metric_sources,
    )
    built.append(runtime)
    _install_collectors(runtime)
    return runtime


def _listener_parts(
    config: PlanoConfig,
    resources: Resources,
    catalog: ModelCatalog,
    router: SmartRouter,
    pool: UpstreamPool,
    store: ResponseStore,
    chains: _Chains,
    admin: Callable[[FilterChain | None], list[web.RouteDef]],
) -> ListenerParts:
    """What every listener of the snapshot is built from."""
    return ListenerParts(
        config,
        catalog,
        router,
        pool,
        store,
        resources.counter,
        chains,
        admin,
        resources.started,
        metrics_routes=lambda: exposition_routes(resources.metrics, config.metrics.path),
        model_routes=lambda: topics_routes(config, resources),
        agents=LiveDirectory(lambda: resources.agents, StaticDirectory.from_config(config.agents)),
        kv=resources.stores.kv,
        filter_client=resources.filter_client,
        model_chain=chains.first,
    )


def _metric_sources(config: PlanoConfig, previous: Runtime | None) -> MetricsPoller | None:
    """The poller of ``model_metrics_sources``, starting from the previous snapshot's table."""
    if not config.model_metrics_sources:
        return None
    last = previous.model_metrics.table() if previous and previous.model_metrics else None
    return MetricsPoller(config.model_metrics_sources, previous=last)


def _chain_parts(
    config: PlanoConfig,
    resources: Resources,
    store: ResponseStore,
    extra_filters: Sequence[Filter],
) -> ChainParts:
    return ChainParts(
        config,
        resources.ledger,
        resources.prices,
        resources.counter,
        store,
        resources.filter_client,
        extra_filters,
        keys=resources.keys,
        audit=resources.audit,
        stores=resources.stores,
        metrics=resources.metrics.metrics if config.metrics.enabled else None,
        signals=resources.signals,
        tracing=resources.tracing,
    )


def _admin_routes(
    config: PlanoConfig,
    resources: Resources,
    router: SmartRouter,
    first_chain: FilterChain,
    status: Callable[[], dict[str, Any]],
) -> Callable[[FilterChain | None], list[web.RouteDef]]:
    """The admin endpoints of a listener, showing ``chain`` (default: ``first_chain``) at
    ``/plano/v1/filters``."""
    auth = config.auth
    static = StaticKeys(auth.keys if auth is not None else ())
    enforced = auth is not None and auth.enabled

    def admin(chain: FilterChain | None) -> list[web.RouteDef]:
        routes = admin_routes(resources.ledger, chain or first_chain)
        routes += status_routes(router.status)
        routes += runtime_routes(status, resources.readiness)
        routes += key_routes(static, resources.keys, resources.audit, enforced=enforced)
        routes += audit_routes(resources.audit)
        routes += trace_routes(resources.tracing)
        routes += budget_routes(config, resources.stores.counters)
        routes += signals_routes(resources.signals, enabled=signals_enabled(config))
        routes += agents_routes(config, resources)
        routes += session_routes(resources.stores.kv)
        routes += summary_routes(resources.metrics)
        routes += dashboard_routes(routes)  # lists the admin endpoints to the page
        return routes

    return admin


def _install_collectors(runtime: Runtime) -> None:
    """The snapshot's gauges (in flight, routing health, stores) on the metrics registry."""
    resources, config = runtime.resources, runtime.config
    install_collectors(
        resources.metrics.metrics.registry,
        config,
        in_flight=lambda: listener_in_flight(runtime.listeners),
        router=runtime.router,
        labels=model_labels(config.model_providers),
        stores=resources.stores,
    )


def _view(listener: Listener, config: PlanoConfig) -> ListenerView:
    g = config.gateway
    spec = listener.spec
    policy = HostPolicy.build(spec.host, g.allowed_hosts, g.allowed_origins, g.admin_key)
    routes = tuple(listener.routes())
    return ListenerView(
        listener, guard_middleware(policy), routes, tuple(r.handler for r in routes)
    )
