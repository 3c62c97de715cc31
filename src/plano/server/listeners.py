"""Listeners as a protocol: what one port serves in one runtime snapshot.

The config's ``listeners:`` (and our ``gateway.admin_port``) become :class:`ListenerSpec` s,
fixed for the life of the process: their sockets are bound once, so a change of address or
port needs a restart. Every runtime snapshot builds one :class:`Listener` per spec through
:data:`LISTENER_KINDS` (a registry keyed by listener type). A listener declares its routes and
its filter chain; the serving layer (``server/serving.py``) sends each request to the routes
of the snapshot that was current when the request arrived.

Kinds served today: ``model`` (the model API, :class:`~plano.server.gateway.Gateway`),
``agent`` (agent orchestration: ``server/agent_listener.py``) and ``admin``
(``/plano/v1/*``, ``/healthz``, ``/readyz`` on ``gateway.admin_port``; without it the admin
routes stay on each model listener). ``prompt`` listeners are accepted and
reported as not supported yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.agents.directory import AgentDirectory
from plano.config import PlanoConfig
from plano.config.tls_checks import ADMIN_LISTENER, admin_tls
from plano.filters import FilterClient
from plano.pipeline.filters import FilterChain
from plano.providers.transport import UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.routing.smart import SmartRouter
from plano.server.admin import json_response, not_found_route
from plano.server.agent_setup import agent_listener
from plano.server.body import BodyReader
from plano.server.gateway import Gateway, GatewaySettings
from plano.server.relay import StreamLimits
from plano.server.shape_routes import count_tokens_routes, responses_routes
from plano.state import ResponseStore
from plano.store.protocols import KeyValue

__all__ = [
    "LISTENER_KINDS",
    "AdminListener",
    "Listener",
    "ListenerFactory",
    "ListenerParts",
    "ListenerSpec",
    "ModelListener",
    "not_served",
    "plan_listeners",
]

SERVED_KINDS = frozenset({"model", "admin", "agent"})


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listening socket and what it serves; the same in every snapshot."""

    name: str
    kind: str
    host: str
    port: int
    #: Where it was declared (``listeners[0]``, ``gateway.admin_port``), for messages.
    source: str
    #: The whole-request time limit (``listeners[].timeout``).
    timeout: float = 300.0
    #: Whether this listener also serves the admin endpoints (a model listener when
    #: ``gateway.admin_port`` is unset).
    admin: bool = False
    input_filters: tuple[str, ...] = ()
    output_filters: tuple[str, ...] = ()
    #: HTTPS (``listeners[].tls``, ``gateway.admin_tls``); ``mutual``: client certificates
    #: required. Both fixed until a restart; the certificate files reload.
    tls: bool = False
    mutual: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}"

    def binding(self) -> tuple[str, str, str, int]:
        """What cannot change without a restart."""
        return (self.name, self.kind, self.host, self.port)


class Listener(Protocol):
    """One listener of one runtime snapshot."""

    @property
    def spec(self) -> ListenerSpec: ...

    @property
    def chain(self) -> FilterChain:
        """The filters its requests go through (started and closed with the snapshot)."""
        ...

    def routes(self) -> list[web.RouteDef]:
        """Its endpoints, bound to this snapshot's objects; a catch-all route last. The
        method/path list must not depend on the config beyond the spec: the serving layer
        registers it once."""
        ...


@dataclass(frozen=True, slots=True)
class ListenerParts:
    """What a listener factory builds from: the snapshot's shared pieces."""

    config: PlanoConfig
    catalog: ModelCatalog
    router: SmartRouter
    pool: UpstreamPool
    store: ResponseStore
    counter: TokenCounter
    #: The filter chain of a listener.
    chain: Callable[[ListenerSpec], FilterChain]
    #: The admin endpoints, showing a chain at ``/plano/v1/filters`` (``None``: the first
    #: model listener's).
    admin_routes: Callable[[FilterChain | None], list[web.RouteDef]]
    #: When the process started serving (uptimes survive reloads).
    started: float
    #: Where agents answer (agent listeners); ``None``: the config's URLs.
    agents: AgentDirectory | None = None
    #: The hot key-value store (agent sessions); ``None``: sessions off.
    kv: KeyValue | None = None
    #: The process's remote-filter session (agents' input_filters).
    filter_client: FilterClient | None = None
    #: The first model listener's chain: the gateway's own model calls are accounted there.
    model_chain: FilterChain | None = None
    #: The Prometheus exposition's routes (the metrics listener, ``metrics.port``).
    metrics_routes: Callable[[], list[web.RouteDef]] = list
    #: More routes every model listener serves (pub/sub topics: ``server/pubsub_api.py``).
    model_routes: Callable[[], list[web.RouteDef]] = list


ListenerFactory = Callable[[ListenerSpec, ListenerParts], Listener]


class ModelListener:
    """The model API: the gateway's endpoints (plus the admin ones when they share the port)."""

    def __init__(self, spec: ListenerSpec, gateway: Gateway) -> None:
        self._spec = spec
        self.gateway = gateway

    @property
    def spec(self) -> ListenerSpec:
        return self._spec

    @property
    def chain(self) -> FilterChain:
        return self.gateway.chain

    def routes(self) -> list[web.RouteDef]:
        return self.gateway.routes()


def model_listener(spec: ListenerSpec, parts: ListenerParts) -> ModelListener:
    g = parts.config.gateway
    f = parts.config.fallback
    settings = GatewaySettings(
        max_body=g.max_request_body,
        max_in_flight=g.max_in_flight,
        request_timeout=spec.timeout,
        body_timeout=g.body_timeout,
        body_budget=g.max_body_buffer,
        stream_limits=StreamLimits(f.first_token_timeout, f.stream_idle_timeout),
        listener=spec.name,
    )
    chain = parts.chain(spec)
    reader = BodyReader(g.max_request_body, g.body_timeout, g.max_body_buffer)
    routes = count_tokens_routes(parts.counter, reader) + responses_routes(parts.store)
    if spec.admin:
        routes = parts.admin_routes(chain) + routes
    gateway = Gateway(
        settings,
        parts.catalog,
        parts.pool,
        chain,
        routes,
        parts.router,
        started=parts.started,
        own_auth=parts.model_routes(),  # pub/sub: its own identity rules (pubsub/identity.py)
    )
    return ModelListener(spec, gateway)


class AdminListener:
    """``gateway.admin_port``: the admin endpoints, ``/healthz`` and ``/readyz``; no model
    traffic, so an empty chain."""

    def __init__(self, spec: ListenerSpec, admin: list[web.RouteDef], started: float) -> None:
        self._spec = spec
        self._admin = admin
        self._chain = FilterChain([])
        self._started = started

    @property
    def spec(self) -> ListenerSpec:
        return self._spec

    @property
    def chain(self) -> FilterChain:
        return self._chain

    async def healthz(self, _request: web.Request) -> web.Response:
        uptime = round(time.time() - self._started, 1)
        return json_response({"status": "ok", "pid": os.getpid(), "uptime_s": uptime})

    def routes(self) -> list[web.RouteDef]:
        return [*self._admin, web.get("/healthz", self.healthz), not_found_route()]


def admin_listener(spec: ListenerSpec, parts: ListenerParts) -> AdminListener:
    return AdminListener(spec, parts.admin_routes(None), parts.started)


def metrics_listener(spec: ListenerSpec, parts: ListenerParts) -> AdminListener:
    """``metrics.port``: the Prometheus exposition, ``/healthz``, nothing else."""
    return AdminListener(spec, parts.metrics_routes(), parts.started)


#: Listener types the runtime can serve, by the config's ``type`` (``admin``: ours).
LISTENER_KINDS: Mapping[str, ListenerFactory] = MappingProxyType(
    {
        "model": model_listener,
        "admin": admin_listener,
        "metrics": metrics_listener,
        "agent": agent_listener,
    }
)


def plan_listeners(
    config: PlanoConfig, host: str | None = None, port: int | None = None
) -> tuple[ListenerSpec, ...]:
    """The listeners a config asks this process to serve, in order: every listener whose
    type is served, then the admin listener when ``gateway.admin_port`` is set. ``host`` and
    ``port`` override the first model listener's (``plano up --host/--port``); the admin
    listener binds the first model listener's address."""
    g = config.gateway
    specs: list[ListenerSpec] = []
    for lst in config.listeners:
        if lst.type not in SERVED_KINDS:
            continue
        first_model = lst.type == "model" and not any(s.kind == "model" for s in specs)
        spec = ListenerSpec(
            name=lst.name,
            kind=lst.type,
            host=(host if first_model and host else lst.address) or "127.0.0.1",
            port=(port if first_model and port else lst.port),
            source=lst.source_path,
            timeout=float(lst.timeout),
            admin=lst.type == "model" and g.admin_port is None,
            input_filters=tuple(lst.input_filters),
            output_filters=tuple(lst.output_filters),
            tls=lst.tls is not None,
            mutual=lst.tls is not None and lst.tls.client_ca_file is not None,
        )
        specs.append(spec)
    if g.admin_port is not None:
        model = next(s for s in specs if s.kind == "model")
        tls = admin_tls(config)
        specs.append(
            ListenerSpec(
                ADMIN_LISTENER,
                "admin",
                model.host,
                g.admin_port,
                "gateway.admin_port",
                tls=tls is not None,
                mutual=tls is not None and tls.client_ca_file is not None,
            )
        )
    m = config.metrics
    if m.port is not None:
        # Loopback unless metrics.address says otherwise: it has no key, so a public model
        # listener must not make the counters (models, keys' ids, costs) public too.
        host = m.address or "127.0.0.1"
        specs.append(ListenerSpec("metrics", "metrics", host, m.port, "metrics.port"))
    return tuple(specs)


def not_served(config: PlanoConfig) -> list[str]:
    """The config's listeners this process does not serve yet (prompt)."""
    return [
        f"{lst.name} ({lst.type}, port {lst.port})"
        for lst in config.listeners
        if lst.type not in SERVED_KINDS
    ]
