"""Checks of the agents' ``run:`` and ``subscriptions:`` against the rest of the config:
ports that collide (with each other or a listener), URLs a port cannot be put in, push
subscriptions the ``pubsub.topics`` rules refuse."""

from __future__ import annotations

from urllib.parse import urlsplit

from plano.config.agent_run import AgentRun, topic_allowed
from plano.config.issues import ConfigIssue
from plano.config.schema import PlanoConfig

__all__ = ["check_agent_runs"]


def check_agent_runs(config: PlanoConfig) -> list[ConfigIssue]:
    """Ports that collide, agent URLs that cannot take a port, push subscriptions the
    topic rules refuse."""
    issues: list[ConfigIssue] = []
    taken: dict[int, str] = {}
    for i, agent in enumerate(config.agents):
        at = f"agents[{i}]"
        run = agent.run
        if run is not None:
            issues += _check_ports(agent.id, agent.url, run, at, taken)
        for j, sub in enumerate(agent.subscriptions):
            if not topic_allowed(config.pubsub, sub.topic, "subscribe", agent.id):
                issues.append(
                    ConfigIssue(
                        f"{at}.subscriptions[{j}].topic",
                        f"pubsub.topics does not let {agent.id!r} subscribe to {sub.topic!r}",
                    )
                )
    for lst in config.listeners:
        if lst.port in taken:
            issues.append(
                ConfigIssue(
                    f"agents ({taken[lst.port]})",
                    f"port {lst.port} is also listener {lst.name!r}'s",
                )
            )
    return issues


def _check_ports(
    agent_id: str, url: str, run: AgentRun, at: str, taken: dict[int, str]
) -> list[ConfigIssue]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [ConfigIssue(f"{at}.url", f"{url!r} is not an http(s) URL")]
    if not run.managed:
        if run.replicas > 1:
            return [ConfigIssue(f"{at}.run.replicas", "replicas need a command to run")]
        return []
    port = run.port or parts.port
    if port is None:
        return [ConfigIssue(f"{at}.run.port", "a managed agent needs a port (here or in url)")]
    issues: list[ConfigIssue] = []
    for replica in range(run.replicas):
        p = port + replica
        if p > 65535:
            issues.append(ConfigIssue(f"{at}.run.replicas", f"port {p} is out of range"))
        elif p in taken:
            issues.append(
                ConfigIssue(f"{at}.run", f"port {p} is already {taken[p]}'s (replica {replica})")
            )
        else:
            taken[p] = agent_id
    return issues
