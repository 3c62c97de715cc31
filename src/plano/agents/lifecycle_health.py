"""The managed agent directory: replicas, their health, round robin over the healthy ones.

Each worker process runs one :class:`ManagedDirectory` (it replaces the static directory on
``Resources.agents``): one task per replica GETs its health URL (every 100 ms until it first
answers, then every ``run.health_interval``), and one task reads the supervisor's process
table (``lifecycle_procs.py``) at the same pace. Health is per worker on purpose: a worker
only trusts what it sees, nothing has to be shared, and the cost is one small GET per replica,
worker and interval. A failed call reported by the agent listener (:meth:`report_failure`)
takes a replica out of rotation at once, until its next good health check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from plano.agents.directory import AgentDirectory, StaticDirectory
from plano.agents.lifecycle import AgentPlan, Replica, agent_state
from plano.agents.lifecycle_procs import read_status

__all__ = ["ManagedDirectory", "ReplicaHealth"]

log = logging.getLogger("plano.agents")

#: Health-check pace while a replica does not answer (a restarted one is back in rotation
#: within this).
_DOWN_INTERVAL = 0.1


@dataclass(slots=True)
class ReplicaHealth:
    replica: Replica
    healthy: bool = False
    ever_healthy: bool = False
    checks: int = 0
    failures: int = 0
    last_error: str | None = None
    last_ok: float | None = None
    #: The process that passed the last good check: a restarted replica (a new pid in the
    #: supervisor's table) is not in rotation until it passes a check of its own.
    ok_pid: int | None = None


class ManagedDirectory:
    """:class:`~plano.agents.directory.AgentDirectory` over the agents with ``run:``; the
    others are answered by ``fallback`` (the config's static URLs)."""

    def __init__(
        self,
        plan: AgentPlan,
        fallback: AgentDirectory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.fallback: AgentDirectory = fallback or StaticDirectory(())
        self._clock = clock
        self._started = clock()
        self.health: dict[str, list[ReplicaHealth]] = {
            a.id: [ReplicaHealth(r) for r in a.replicas] for a in plan.agents.values()
        }
        self._by_url = {h.replica.url: h for hs in self.health.values() for h in hs}
        self._turn: dict[str, int] = dict.fromkeys(self.health, 0)
        self.processes: dict[str, dict[str, Any]] = read_status(plan.status_file)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ the directory

    def endpoints(self, agent_id: str) -> Sequence[str]:
        """Healthy replicas, the next in round-robin order first (the rest as fallbacks)."""
        replicas = self.health.get(agent_id)
        if replicas is None:
            return self.fallback.endpoints(agent_id)
        healthy = [h.replica.url for h in replicas if self._usable(h)]
        if len(healthy) < 2:
            return healthy
        turn = self._turn[agent_id] % len(healthy)
        self._turn[agent_id] = turn + 1
        return healthy[turn:] + healthy[:turn]

    def state(self, agent_id: str) -> str:
        replicas = self.health.get(agent_id)
        if replicas is None:
            return self.fallback.state(agent_id)
        healthy = sum(self._usable(h) for h in replicas)
        process = [self._process(h.replica).get("process", "") for h in replicas]
        return agent_state(healthy, process, self._starting(agent_id, replicas))

    def report_failure(self, url: str, error: str) -> None:
        """The agent listener saw ``url`` fail: out of rotation until its next good check."""
        h = self._by_url.get(url.rstrip("/"))
        if h is not None and h.healthy:
            h.healthy = False
            h.last_error = error

    def _usable(self, h: ReplicaHealth) -> bool:
        """Healthy at its last check, and its process not known to be gone since (the
        supervisor's table is read every 0.5 s; health checks run every interval)."""
        if not h.healthy:
            return False
        row = self._process(h.replica)
        if h.ok_pid is not None and row.get("pid") not in (None, h.ok_pid):
            return False
        return row.get("process") in (None, "pending", "running")

    def _process(self, replica: Replica) -> dict[str, Any]:
        return self.processes.get(replica.name, {})

    def _starting(self, agent_id: str, replicas: Sequence[ReplicaHealth]) -> bool:
        """Within the start time-out of the process (or of this directory, for external
        agents) and never answered since."""
        timeout = float(self.plan.agents[agent_id].run.start_timeout)
        now = self._clock()
        for h in replicas:
            row = self._process(h.replica)
            since = float(row.get("since", self._started)) if row else self._started
            fresh = row.get("process") in (None, "pending", "running", "restarting")
            if fresh and now - since < timeout and (not h.ever_healthy or row.get("restarts")):
                return True
        return False

    # ------------------------------------------------------------------ the admin view

    def status(self) -> list[dict[str, Any]]:
        """``GET /plano/v1/agents`` and ``plano agents``."""
        rows = []
        for agent in self.plan.agents.values():
            replicas = self.health[agent.id]
            rows.append(
                {
                    "id": agent.id,
                    "state": self.state(agent.id),
                    "managed": agent.managed,
                    "healthy": sum(self._usable(h) for h in replicas),
                    "replicas": [self._replica_row(h) for h in replicas],
                    "restarts": sum(
                        int(self._process(h.replica).get("restarts", 0)) for h in replicas
                    ),
                    "last_error": next(
                        (e for e in (self._last_error(h) for h in replicas) if e), None
                    ),
                }
            )
        return rows

    def _replica_row(self, h: ReplicaHealth) -> dict[str, Any]:
        row = self._process(h.replica)
        return {
            "url": h.replica.url,
            "healthy": self._usable(h),
            "pid": row.get("pid"),
            "process": row.get("process", "external" if not h.replica.argv else "pending"),
            "restarts": row.get("restarts", 0),
            "last_error": self._last_error(h),
            "last_ok": h.last_ok,
        }

    def _last_error(self, h: ReplicaHealth) -> str | None:
        row = self._process(h.replica)
        if row.get("process") in ("crash-looping", "restarting", "exited"):
            return row.get("last_error")  # why the process is gone beats a refused check
        return h.last_error if not h.healthy and h.last_error else row.get("last_error")

    # ------------------------------------------------------------------ health checks

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2.0)
        self._session = aiohttp.ClientSession(timeout=timeout)
        loop = asyncio.get_running_loop()
        for replicas in self.health.values():
            for h in replicas:
                self._tasks.append(loop.create_task(self._check_loop(h)))
        if self.plan.status_file is not None:
            self._tasks.append(loop.create_task(self._read_loop()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()

    async def wait_up(self, agent_id: str, within: float, *, every: bool = False) -> bool:
        """Wait until the agent has a healthy replica (``every``: all of them; ``plano up``'s
        start); false when it is not up by then or is crash-looping."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        replicas = self.health[agent_id]
        while True:
            state = self.state(agent_id)
            done = all(map(self._usable, replicas)) if every else state == "up"
            if done or state == "crash-looping" or loop.time() >= deadline:
                return state == "up"
            await asyncio.sleep(0.05)

    async def check(self, h: ReplicaHealth) -> None:
        """One health check of one replica."""
        assert self._session is not None
        h.checks += 1
        try:
            async with self._session.get(h.replica.health_url, allow_redirects=False) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                error = None if ok else f"health check answered {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            ok, error = False, f"health check failed: {type(exc).__name__}"
        if ok and not h.healthy:
            log.info(
                "agent %s replica %d is up (%s)", h.replica.agent_id, h.replica.index, h.replica.url
            )
        elif not ok and h.healthy:
            log.warning(
                "agent %s replica %d is down: %s", h.replica.agent_id, h.replica.index, error
            )
        h.healthy = ok
        if ok:
            h.ever_healthy = True
            h.last_ok = self._clock()
            h.last_error = None
            h.ok_pid = self._process(h.replica).get("pid")
        else:
            h.failures += 1
            h.last_error = error

    async def _check_loop(self, h: ReplicaHealth) -> None:
        interval = float(self.plan.agents[h.replica.agent_id].run.health_interval)
        while True:
            await self.check(h)
            await asyncio.sleep(interval if self._usable(h) else min(interval, _DOWN_INTERVAL))

    async def _read_loop(self) -> None:
        while True:
            self.processes = await asyncio.to_thread(read_status, self.plan.status_file)
            await asyncio.sleep(0.5)
