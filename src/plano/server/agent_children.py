"""``plano up``'s side of agent lifecycle: the agent plan made once in the parent process,
the supervisor's :class:`~plano.server.supervisor.Child` spec per managed replica, and the
process table the supervisor reports to (``agents/lifecycle*.py`` hold the rest).

A replica's child ``exec`` s the agent's command with ``PORT``, ``PLANO_URL``,
``PLANO_AGENT_ID``, ``PLANO_AGENT_TOKEN`` and ``PLANO_REPLICA`` set; it never reloads, never
reports ready (workers check its health), restarts with backoff and, in a crash loop, is
left down (reported) while the gateway keeps serving. On stop it gets SIGTERM, then SIGKILL
after ``run.stop_timeout``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from plano.agents.lifecycle import AgentPlan, Replica, exec_replica, plan_agents
from plano.agents.lifecycle_procs import ProcessTable
from plano.config import PlanoConfig
from plano.server.listeners import ListenerSpec
from plano.server.supervisor import Child, ChildContext, RestartPolicy

__all__ = ["AgentProcesses", "agent_plan"]


def agent_plan(
    config: PlanoConfig,
    specs: Sequence[ListenerSpec],
    config_path: Path | None,
    status_file: Path | None = None,
) -> AgentPlan | None:
    """The plan for the config's agents with ``run:`` (``None``: there are none)."""
    if not any(a.run is not None for a in config.agents):
        return None
    model = next((s for s in specs if s.kind == "model"), None)
    plano_url = model.url if model is not None else ""
    base = config_path.parent if config_path is not None else Path.cwd()
    return plan_agents(
        config.agents, base_dir=base.resolve(), plano_url=plano_url, status_file=status_file
    )


class AgentProcesses:
    """The managed replicas of a plan as supervisor children, and their process table (in a
    private temporary folder, removed on :meth:`close`)."""

    def __init__(
        self, config: PlanoConfig, specs: Sequence[ListenerSpec], config_path: Path | None
    ):
        self._dir = Path(tempfile.mkdtemp(prefix="plano-agents-"))
        plan = agent_plan(config, specs, config_path, self._dir / "processes.json")
        assert plan is not None
        self.plan = plan
        replicas = plan.managed()
        self.table = ProcessTable(self._dir / "processes.json", (r.name for r in replicas))

    def children(self) -> list[Child]:
        return [self._child(r) for r in self.plan.managed()]

    def _child(self, replica: Replica) -> Child:
        run = self.plan.agents[replica.agent_id].run

        def start(_ctx: ChildContext) -> int:  # pragma: no cover - runs in the forked child
            return exec_replica(replica)

        return Child(
            replica.name,
            start,
            restart="always",
            policy=RestartPolicy(max_failures=run.max_restarts, window=60.0),
            reloads=False,
            reports_ready=False,
            crash_loop="give-up",
            stop_timeout=float(run.stop_timeout),
        )

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
