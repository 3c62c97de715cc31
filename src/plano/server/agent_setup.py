"""Building an agent listener from the config (the ``agent`` entry of ``LISTENER_KINDS``).

Which chooser picks agents is decided here, once per snapshot: the orchestrator model
(``overrides.agent_orchestration_model``, Plano's default ``Plano-Orchestrator``) when the
config declares a provider for it, with the offline embedding chooser behind it; otherwise
the embedding chooser alone, and the log says so once (Plano's vendor-hosted orchestrator is
never called: Plano-for-Python works offline).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from plano.agents.choosers import (
    AgentChooser,
    EmbeddingChooser,
    LLMChooser,
    Orchestrator,
    RulesChooser,
)
from plano.agents.directory import AgentDirectory, StaticDirectory
from plano.agents.orchestrator import DEFAULT_CONTEXT_TOKENS, AgentCard
from plano.agents.sessions import SessionLimits, SessionStore
from plano.config.agents import Orchestration
from plano.config.schema import Listener as ListenerConfig
from plano.config.schema import PlanoConfig
from plano.errors import PlanoError
from plano.filters import FilterClient
from plano.filters import build_chain as configured_chain
from plano.limits.ratelimits import RateLimitFilter
from plano.pipeline.filters import Filter, FilterChain
from plano.providers.transport import UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.routing.preference import load_wordllama
from plano.routing.smart import SmartRouter
from plano.server.agent_budgets import TurnBudgets
from plano.server.agent_calls import AgentCaller
from plano.server.agent_listener import AgentListener, AgentTurnSettings
from plano.server.body import BodyReader
from plano.server.mcp_proxy import mcp_servers
from plano.server.relay import StreamLimits
from plano.server.router_client import GatewayModelCaller
from plano.store.protocols import KeyValue


class ListenerSpec(Protocol):
    """What of a ``server.listeners.ListenerSpec`` an agent listener reads (a protocol:
    ``listeners`` imports this module for its registry)."""

    @property
    def name(self) -> str: ...

    @property
    def timeout(self) -> float: ...


class ListenerParts(Protocol):
    """What of a ``server.listeners.ListenerParts`` an agent listener uses."""

    @property
    def config(self) -> PlanoConfig: ...

    @property
    def catalog(self) -> ModelCatalog: ...

    @property
    def router(self) -> SmartRouter: ...

    @property
    def pool(self) -> UpstreamPool: ...

    @property
    def chain(self) -> Callable[[Any], FilterChain]: ...

    @property
    def agents(self) -> AgentDirectory | None: ...

    @property
    def kv(self) -> KeyValue | None: ...

    @property
    def filter_client(self) -> FilterClient | None: ...

    @property
    def model_chain(self) -> FilterChain | None: ...


__all__ = ["DEFAULT_ORCHESTRATOR", "agent_listener", "choosers_for"]

log = logging.getLogger("plano.agents")

#: Plano's default orchestrator model (vendor-hosted; used only when the config declares it).
DEFAULT_ORCHESTRATOR = "Plano-Orchestrator"
_told: set[str] = set()


@functools.cache
def shared_wordllama() -> Any:
    """wordllama loaded once per process (read-only afterwards; every listener shares it)."""
    return load_wordllama()


class _EmbeddingLoader(Filter):
    """Loads the embedding chooser in a thread when the snapshot starts (until then the
    default agent answers)."""

    name = "agent_embeddings"

    def __init__(self, chooser: EmbeddingChooser) -> None:
        self.chooser = chooser
        self._task: asyncio.Future[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.run_in_executor(None, self._load)

    def _load(self) -> None:
        try:
            self.chooser.load()
        except Exception:
            log.exception("could not load the agent embedding chooser; the default agent answers")

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)


def _say_once(key: str, message: str, *args: object) -> None:
    if key not in _told:
        _told.add(key)
        log.warning(message, *args)


def _resolvable(catalog: ModelCatalog, model: str) -> bool:
    try:
        catalog.resolve(model)
    except PlanoError:
        return False
    return model in catalog.names() or "/" in model


def choosers_for(
    config: PlanoConfig,
    listener: ListenerConfig,
    catalog: ModelCatalog,
    orch: Orchestration,
) -> tuple[AgentChooser | None, AgentChooser | None, EmbeddingChooser | None]:
    """``(chooser, backup, embedding chooser to load)`` for an agent listener."""
    cards = [AgentCard(a.id, a.description, a.default) for a in listener.agents]
    if orch.chooser == "rules" or len(cards) < 2:
        return None, None, None
    embedding = EmbeddingChooser(cards, loader=shared_wordllama)
    if orch.chooser == "embedding":
        return embedding, None, embedding
    overrides = config.overrides
    model = (overrides.agent_orchestration_model if overrides else None) or DEFAULT_ORCHESTRATOR
    if _resolvable(catalog, model) and not _vendor_hosted(catalog, model):
        context = overrides.orchestrator_model_context_length if overrides else None
        llm = LLMChooser(model, context_tokens=context or DEFAULT_CONTEXT_TOKENS)
        return llm, embedding, embedding
    _say_once(
        model,
        "agent listener %r: the orchestrator model %r is vendor-hosted or not declared in "
        "model_providers; agents are chosen offline by embeddings (said once)",
        listener.name,
        model,
    )
    return embedding, None, embedding


def _vendor_hosted(catalog: ModelCatalog, model: str) -> bool:
    """Plano's hosted orchestrator (provider ``plano`` without a base_url of one's own)."""
    try:
        dep = catalog.resolve(model)
    except PlanoError:
        return True
    hosted = ("archgw" in dep.base_url, "katanemo" in dep.base_url)
    return dep.provider == "plano" and any(hosted)


def agent_listener(spec: ListenerSpec, parts: ListenerParts) -> AgentListener:
    config = parts.config
    declared = next(lst for lst in config.listeners if lst.name == spec.name)
    orch = declared.orchestration or Orchestration()
    model_chain = parts.model_chain or FilterChain([])
    orchestrator, embedding = _orchestrator(declared, orch, parts, model_chain)
    agent_chains = _agent_chains(spec, declared, parts)
    settings = _turn_settings(spec, config, orch, agent_chains)
    chain = parts.chain(spec)
    limits = [f for f in chain.filters if isinstance(f, RateLimitFilter)]
    budgets = next((f for f in chain.filters if isinstance(f, TurnBudgets)), None)
    extra: list[Filter] = [_EmbeddingLoader(embedding)] if embedding is not None else []
    for sub in agent_chains.values():
        extra += sub.filters  # started and closed with the snapshot
    summarizer = GatewayModelCaller(parts.router, parts.pool, model_chain, max_tokens=1024)
    g = config.gateway
    listener = AgentListener(
        spec,
        _Combined(chain, extra),
        settings,
        orchestrator,
        _agent_caller(spec, declared, orch, parts),
        BodyReader(g.max_request_body, g.body_timeout, g.max_body_buffer),
        sessions=_sessions(orch, parts.kv),
        complete=summarizer.complete,
        mcp_servers=mcp_servers(config.agents, float(orch.agent_timeout or spec.timeout)),
        limits=limits,
        budgets=budgets,
    )
    extra.append(listener.mcp)  # its connection pool, started and closed with the snapshot
    return listener


def _orchestrator(
    declared: ListenerConfig, orch: Orchestration, parts: ListenerParts, model_chain: FilterChain
) -> tuple[Orchestrator, EmbeddingChooser | None]:
    """The orchestrator of the listener's agents, and the embedding chooser to load (if any)."""
    cards = [AgentCard(a.id, a.description, a.default) for a in declared.agents]
    chooser, backup, embedding = choosers_for(parts.config, declared, parts.catalog, orch)
    if isinstance(chooser, LLMChooser):
        # Room for a route list of several agents (the preference router needs 32 tokens).
        asks = GatewayModelCaller(parts.router, parts.pool, model_chain, max_tokens=256)
        chooser.complete = asks.complete
    orchestrator = Orchestrator(
        cards,
        rules=RulesChooser(orch.rules) if orch.rules else None,
        chooser=chooser,
        backup=backup,
        max_agents=orch.max_agents,
    )
    return orchestrator, embedding


def _agent_caller(
    spec: ListenerSpec, declared: ListenerConfig, orch: Orchestration, parts: ListenerParts
) -> AgentCaller:
    """The caller of the agents: each one's time limit, API, headers and stream limits."""
    config = parts.config
    directory: AgentDirectory = parts.agents or StaticDirectory.from_config(config.agents)
    default_limit = None if orch.agent_timeout is None else float(orch.agent_timeout)
    timeouts = {
        a.id: (float(a.timeout) if a.timeout is not None else default_limit)
        for a in declared.agents
    }
    if orch.fallback_agent is not None:
        timeouts.setdefault(orch.fallback_agent, default_limit)
    f = config.fallback
    return AgentCaller(
        parts.pool,
        directory,
        {a.id: a.api for a in config.agents},
        timeouts=timeouts,
        default_timeout=default_limit,
        listener=spec.name,
        stream_limits=StreamLimits(f.first_token_timeout, f.stream_idle_timeout),
        headers={a.id: a.headers for a in config.agents if a.headers},
        forward_auth=frozenset(a.id for a in config.agents if a.forward_auth),
    )


def _agent_chains(
    spec: ListenerSpec, declared: ListenerConfig, parts: ListenerParts
) -> dict[str, FilterChain]:
    """Each agent's own ``input_filters``, as a chain of its own."""
    client = parts.filter_client or FilterClient()
    return {
        a.id: configured_chain(
            parts.config,
            ListenerConfig(
                type="agent", name=f"{spec.name}/{a.id}", port=1, input_filters=a.input_filters
            ),
            client=client,
        )
        for a in declared.agents
        if a.input_filters
    }


def _sessions(orch: Orchestration, kv: KeyValue | None) -> SessionStore | None:
    s = orch.sessions
    if not s.enabled or kv is None:
        return None
    return SessionStore(kv, SessionLimits(float(s.ttl), s.max_messages, int(s.max_bytes)))


def _turn_settings(
    spec: ListenerSpec,
    config: PlanoConfig,
    orch: Orchestration,
    agent_chains: dict[str, FilterChain],
) -> AgentTurnSettings:
    return AgentTurnSettings(
        listener=spec.name,
        request_timeout=spec.timeout,
        mode=orch.mode,
        merge=orch.merge,
        summarizer_model=orch.summarizer_model,
        fallback_agent=orch.fallback_agent,
        session_header=orch.sessions.header.lower(),
        known_agents=frozenset(a.id for a in config.agents),
        agent_chains=agent_chains,
    )


class _Combined(FilterChain):
    """The listener's chain plus filters that only need starting and closing with it (the
    per-agent input filters run through their own chains)."""

    def __init__(self, chain: FilterChain, lifecycle_only: list[Filter]) -> None:
        super().__init__(chain.filters)
        self._lifecycle = lifecycle_only

    async def start(self) -> None:
        await super().start()
        for f in self._lifecycle:
            await f.start()

    async def close(self) -> None:
        await super().close()
        for f in self._lifecycle:
            await f.close()
