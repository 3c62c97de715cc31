"""Agent lifecycle, the pure part: which processes ``plano up`` runs for the config's agents
(``agents[].run``), what each one is told, and how replica health becomes an agent's state.

An agent with ``run.command`` is *managed*: the supervisor runs ``replicas`` copies of the
command (``lifecycle_procs.py``), replica ``i`` on ``port + i`` (env ``PORT``); an agent with
``run`` but no command is *external* and only health-checked; an agent without ``run`` is
left to the static directory. Every worker checks health itself (``lifecycle_health.py``):
no cross-process state is needed to pick a healthy replica, and the supervisor's process
facts (pids, restarts, crash loops) reach the workers through a small status file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from plano.config.agent_run import AgentRun

__all__ = [
    "AgentPlan",
    "ManagedAgent",
    "Replica",
    "agent_environment",
    "agent_state",
    "agent_token",
    "plan_agents",
]

#: Environment every managed replica gets (beside ``run.env``).
ENV_PORT = "PORT"
ENV_PLANO_URL = "PLANO_URL"
ENV_AGENT_ID = "PLANO_AGENT_ID"
ENV_AGENT_TOKEN = "PLANO_AGENT_TOKEN"
ENV_REPLICA = "PLANO_REPLICA"
#: What an agent inherits of Plano's environment without asking (``run.inherit_env`` adds
#: more): enough to find its interpreter and libraries, never Plano's keys or database URLs.
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "PYTHONPATH")


@dataclass(frozen=True, slots=True)
class Replica:
    agent_id: str
    index: int
    #: Base URL the gateway calls (the agent url's path kept, its port replaced).
    url: str
    health_url: str
    port: int | None = None
    #: Program and arguments; empty for an external agent.
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    #: Names of Plano's environment the replica also gets (``run.inherit_env``).
    inherit: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"agent:{self.agent_id}#{self.index}"


@dataclass(frozen=True, slots=True)
class ManagedAgent:
    id: str
    run: AgentRun
    replicas: tuple[Replica, ...]

    @property
    def managed(self) -> bool:
        return self.run.managed


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """What ``plano up`` decided about the agents, made once in the parent process and
    inherited by every worker."""

    agents: Mapping[str, ManagedAgent]
    #: Per-run secret: each managed agent's token is derived from it (pub/sub identity).
    secret: bytes
    #: Where the supervisor writes process facts (``None``: no managed process).
    status_file: Path | None = None

    def managed(self) -> list[Replica]:
        return [r for a in self.agents.values() if a.managed for r in a.replicas]

    def token(self, agent_id: str) -> str:
        return agent_token(self.secret, agent_id)

    def agent_for_token(self, token: str) -> str | None:
        """The agent a token was made for (constant-time compares)."""
        for agent_id in self.agents:
            if hmac.compare_digest(token.encode(), self.token(agent_id).encode()):
                return agent_id
        return None


def agent_token(secret: bytes, agent_id: str) -> str:
    return "pat-" + hmac.new(secret, agent_id.encode(), hashlib.sha256).hexdigest()[:40]


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, "", "")).rstrip("/")


def _health(run: AgentRun, base: str) -> str:
    if run.health_url is not None and not run.managed:
        return run.health_url
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, run.health_path, "", ""))


def plan_agents(
    agents: Sequence[Any],
    *,
    base_dir: Path,
    plano_url: str,
    secret: bytes | None = None,
    status_file: Path | None = None,
) -> AgentPlan:
    """The replicas of every agent with ``run:`` (``agents``: the config's entries, with
    ``id``, ``url``, ``run``). ``base_dir``: what a relative ``cwd`` is relative to (the
    config file's folder); ``plano_url``: the model listener the agents call."""
    secret = secret if secret is not None else secrets.token_bytes(32)
    planned: dict[str, ManagedAgent] = {}
    for agent in agents:
        run: AgentRun | None = agent.run
        if run is None:
            continue
        replicas: list[Replica] = []
        if not run.managed:
            url = agent.url.rstrip("/")
            replicas.append(Replica(agent.id, 0, url, _health(run, url)))
        else:
            first = run.port or urlsplit(agent.url).port or 0
            cwd = str((base_dir / run.cwd).resolve()) if run.cwd else str(base_dir)
            for i in range(run.replicas):
                url = _with_port(agent.url, first + i)
                env = {
                    **run.env,
                    ENV_PORT: str(first + i),
                    ENV_PLANO_URL: plano_url,
                    ENV_AGENT_ID: agent.id,
                    ENV_AGENT_TOKEN: agent_token(secret, agent.id),
                    ENV_REPLICA: str(i),
                }
                replicas.append(
                    Replica(
                        agent.id,
                        i,
                        url,
                        _health(run, url),
                        first + i,
                        tuple(run.argv()),
                        cwd,
                        env,
                        tuple(run.inherit_env),
                    )
                )
        planned[agent.id] = ManagedAgent(agent.id, run, tuple(replicas))
    return AgentPlan(MappingProxyType(planned), secret, status_file)


def agent_state(healthy: int, process: Sequence[str], starting: bool) -> str:
    """An agent's state from its replicas: ``up`` (one healthy is enough), ``crash-looping``
    (the supervisor gave up on a replica and none is healthy), ``starting`` (within the start
    time-out or a restart), else ``down``. ``process``: each replica's process state from the
    supervisor (empty for external agents). Pure."""
    if healthy > 0:
        return "up"
    if "crash-looping" in process:
        return "crash-looping"
    if starting or "restarting" in process:
        return "starting"
    return "down"


def agent_environment(
    parent: Mapping[str, str], own: Mapping[str, str], inherit: Sequence[str] = ()
) -> dict[str, str]:
    """A managed replica's whole environment: of Plano's (``parent``) only :data:`BASE_ENV`
    and the ``inherit`` names that are set, then its own (``run.env`` and what Plano tells it).
    An agent is other code: Plano's provider keys, admin key and store URLs stay with Plano.
    Pure."""
    env = {name: parent[name] for name in (*BASE_ENV, *inherit) if name in parent}
    env.update(own)
    return env


def exec_replica(replica: Replica) -> int:  # pragma: no cover - runs in the forked child
    """Replace the forked child with the agent's program (the supervisor's ``Child.run``)."""
    env = agent_environment(os.environ, replica.env, replica.inherit)
    _die_with_parent()
    if replica.cwd is not None:
        os.chdir(replica.cwd)
    try:
        os.execvpe(replica.argv[0], list(replica.argv), env)
    except OSError as exc:
        os.write(2, f"plano: cannot run agent {replica.name}: {exc}\n".encode())
    return 127


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: SIGTERM this process when the supervisor dies (even by SIGKILL), so no agent
    outlives ``plano up`` holding its port; kept across ``exec``. Elsewhere: nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
