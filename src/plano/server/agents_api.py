"""Agents at run time, per worker: the managed directory (health, replicas, round robin)
swapped onto ``Resources.agents``, the push deliveries of ``agents[].subscriptions``, and the
endpoints that show them: ``GET /plano/v1/agents`` (admin key) and, on every model listener,
the pub/sub topics (``server/pubsub_api.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from plano.agents.directory import AgentDirectory, StaticDirectory
from plano.agents.lifecycle import AgentPlan
from plano.agents.lifecycle_health import ManagedDirectory
from plano.config import PlanoConfig
from plano.filters.keys import KeyCache
from plano.pubsub.push import PushDelivery
from plano.server.admin import json_response
from plano.server.pubsub_api import PUSH_GROUP_PREFIX, TopicsAPI, identities_for
from plano.store.db import redact_url
from plano.store.setup import StateStores

__all__ = ["AgentServices", "agents_routes", "start_agents", "topics_routes"]

log = logging.getLogger("plano.agents")


class Resources(Protocol):
    """What of ``server.runtime.Resources`` the agents use (no import of it: no cycle)."""

    agents: AgentDirectory

    @property
    def stores(self) -> StateStores: ...

    @property
    def state(self) -> str: ...

    @property
    def keys(self) -> KeyCache: ...


class AgentServices:
    """What one worker runs for the agents (started after the stores, closed after the
    listeners stopped)."""

    def __init__(self, config: PlanoConfig, resources: Resources, plan: AgentPlan | None):
        self.config = config
        self.resources = resources
        self.directory: ManagedDirectory | None = None
        if plan is not None:
            fallback = StaticDirectory.from_config(config.agents)
            self.directory = ManagedDirectory(plan, fallback)
            resources.agents = self.directory
        self.pushes: list[PushDelivery] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.directory is not None:
            await self.directory.start()
        subs = [(a.id, s) for a in self.config.agents for s in a.subscriptions]
        if not subs:
            return
        self._session = aiohttp.ClientSession()
        topics = self.resources.stores.topics
        for agent_id, sub in subs:
            push = PushDelivery(topics, agent_id, sub, self._endpoints, session=self._session)
            push.start()
            self.pushes.append(push)

    async def ready(self) -> None:
        """Wait until every agent with ``run:`` is up, each within its ``start_timeout``;
        the ones that are not are logged (the gateway serves anyway: their turns fail in
        the client's shape until they are up)."""
        directory = self.directory
        if directory is None:
            return
        agents = list(directory.plan.agents.values())
        ups = await asyncio.gather(
            *(directory.wait_up(a.id, float(a.run.start_timeout), every=True) for a in agents)
        )
        for agent, up in zip(agents, ups, strict=True):
            if up:
                healthy = sum(h.healthy for h in directory.health[agent.id])
                log.info("agent %s is up (%d/%d healthy)", agent.id, healthy, len(agent.replicas))
            else:
                log.warning(
                    "agent %s is not up after %gs (%s)",
                    agent.id,
                    float(agent.run.start_timeout),
                    directory.state(agent.id),
                )

    def _endpoints(self, agent_id: str) -> Any:
        # Read at each delivery: a reload may replace the directory.
        return self.resources.agents.endpoints(agent_id)

    async def close(self) -> None:
        for push in self.pushes:
            await push.close()
        if self._session is not None:
            await self._session.close()
        if self.directory is not None:
            await self.directory.close()


def start_agents(
    config: PlanoConfig, resources: Resources, plan: AgentPlan | None
) -> AgentServices:
    """The worker's agent services (the directory is on ``resources`` at once)."""
    return AgentServices(config, resources, plan)


def _managed(resources: Resources) -> ManagedDirectory | None:
    agents = resources.agents
    return agents if isinstance(agents, ManagedDirectory) else None


def agents_status(config: PlanoConfig, resources: Resources) -> list[dict[str, Any]]:
    """Every agent of the config: managed ones with replicas, external ones by URL."""
    managed = _managed(resources)
    rows = {r["id"]: r for r in managed.status()} if managed is not None else {}
    out = []
    for agent in config.agents:
        row = rows.get(agent.id) or {
            "id": agent.id,
            "state": resources.agents.state(agent.id),
            "managed": False,
            "healthy": None,
            "replicas": [{"url": u} for u in resources.agents.endpoints(agent.id)],
            "restarts": 0,
            "last_error": None,
        }
        row["url"] = agent.url
        row["subscriptions"] = [s.topic for s in agent.subscriptions]
        out.append(_shown(row))
    return out


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """The row without credentials written into a URL (``http://user:pass@host``, a key in
    the query): the admin API feeds the dashboard."""
    row["url"] = _safe_url(row["url"])
    row["replicas"] = [
        {**r, "url": _safe_url(r["url"])} if isinstance(r.get("url"), str) else r
        for r in row.get("replicas") or ()
    ]
    return row


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return redact_url(url) if parts.password or parts.query else url


def agents_routes(config: PlanoConfig, resources: Resources) -> list[web.RouteDef]:
    managed = _managed(resources)
    if managed is not None:  # a reload's new external URLs (run: changes need a restart)
        managed.fallback = StaticDirectory.from_config(config.agents)

    async def listing(_request: web.Request) -> web.Response:
        return json_response({"agents": agents_status(config, resources)})

    return [web.get("/plano/v1/agents", listing)]


def topics_routes(config: PlanoConfig, resources: Resources) -> list[web.RouteDef]:
    managed = _managed(resources)
    tokens = managed.plan.agent_for_token if managed is not None else None
    auth = config.auth
    api = TopicsAPI(
        resources.stores.topics,
        config.pubsub,
        identities_for(config, tokens, resources.keys),
        auth_required=auth is not None and auth.enabled,
        draining=lambda: resources.state == "draining",
        body_timeout=float(config.gateway.body_timeout),
        push_groups={
            (s.topic, s.group or PUSH_GROUP_PREFIX + a.id): a.id
            for a in config.agents
            for s in a.subscriptions
        },
    )
    return api.routes()
