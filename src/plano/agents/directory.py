"""Where an agent answers: the seam between orchestration and agent lifecycle.

The agent listener asks an :class:`AgentDirectory` for an agent's base URLs each time it calls
the agent. :class:`StaticDirectory` answers from the config's ``agents:`` URLs (agents someone
else runs: always ``external``); the lifecycle manager (``agents/lifecycle*.py``) provides a
managed directory with healthy replicas first, and swaps it in on ``Resources.agents``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "AgentDirectory",
    "AgentState",
    "LiveDirectory",
    "ReportsFailures",
    "StaticDirectory",
    "base_url",
]

AgentState: TypeAlias = Literal["up", "starting", "down", "external"]


class AgentDirectory(Protocol):
    """Healthy base URLs of an agent, preferred first; its state."""

    def endpoints(self, agent_id: str) -> Sequence[str]:
        """Healthy base URLs, preferred first (empty: none can answer now)."""
        ...

    def state(self, agent_id: str) -> str:
        """``up`` | ``starting`` | ``down`` | ``external``."""
        ...


@runtime_checkable
class ReportsFailures(Protocol):
    """A directory that takes a replica out of rotation when a call to it failed (the
    managed directory: skipped at once, not only after its next failed health check)."""

    def report_failure(self, url: str, error: str) -> None: ...


def base_url(url: str) -> str:
    """The URL without a trailing slash (the agent's own path is kept: it is where its chat
    endpoint lives)."""
    return url.rstrip("/")


class StaticDirectory:
    """The config's agent URLs (external agents): always ``external``; an unknown id has no
    endpoint and is ``down``."""

    __slots__ = ("_urls",)

    def __init__(self, agents: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = agents.items() if isinstance(agents, Mapping) else agents
        self._urls: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {agent_id: (base_url(url),) for agent_id, url in items}
        )

    @classmethod
    def from_config(cls, agents: Iterable[object]) -> StaticDirectory:
        """From the config's ``agents:`` entries (objects with ``id`` and ``url``)."""
        return cls((str(getattr(a, "id")), str(getattr(a, "url"))) for a in agents)  # noqa: B009

    def endpoints(self, agent_id: str) -> Sequence[str]:
        return self._urls.get(agent_id, ())

    def state(self, agent_id: str) -> str:
        return "external" if agent_id in self._urls else "down"

    def ids(self) -> tuple[str, ...]:
        return tuple(self._urls)


class LiveDirectory:
    """The directory in force at each call (``current()``; the lifecycle manager may swap
    it in after a snapshot was built), the config's URLs while that is an empty
    :class:`StaticDirectory` (the process default)."""

    __slots__ = ("_current", "_fallback")

    def __init__(self, current: Callable[[], AgentDirectory], fallback: StaticDirectory) -> None:
        self._current = current
        self._fallback = fallback

    def _now(self) -> AgentDirectory:
        d = self._current()
        if isinstance(d, StaticDirectory) and not d.ids():
            return self._fallback
        return d

    def endpoints(self, agent_id: str) -> Sequence[str]:
        return self._now().endpoints(agent_id)

    def state(self, agent_id: str) -> str:
        return self._now().state(agent_id)

    def report_failure(self, url: str, error: str) -> None:
        now = self._now()
        if isinstance(now, ReportsFailures):
            now.report_failure(url, error)
