"""``plano agents``: the agents of a running gateway and their state (``GET /plano/v1/agents``),
through the admin API client of ``admin_cli`` (URL and admin key from flags, the environment
or the config). :func:`agents_table` is the one rendering of agent rows (``plano status``
shows the same table)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from plano.admin_cli import AdminError, admin_client, plain_table, print_error, target_arguments

__all__ = ["add_agents_command", "agent_down", "agents_table", "cmd_agents"]

out = Console()
_DOWN_STATES = frozenset({"down", "crash-looping"})


def agent_down(agent: Mapping[str, Any]) -> bool:
    """No healthy replica or a down / crash-looping state. ``healthy`` is the count of
    healthy replicas in ``GET /plano/v1/agents`` (``None``: an agent Plano does not
    health-check), so ``0`` is down, not merely falsy."""
    healthy = agent.get("healthy")
    return (healthy is not None and not healthy) or agent.get("state") in _DOWN_STATES


def _replicas(agent: Mapping[str, Any]) -> str:
    replicas = agent.get("replicas") or []
    healthy = agent.get("healthy")
    if healthy is None:
        return "external"
    shown = f"{healthy}/{len(replicas)} healthy"
    pids = [str(r["pid"]) for r in replicas if isinstance(r, dict) and r.get("pid")]
    return shown + (f" (pid {', '.join(pids)})" if pids else "")


def agents_table(agents: Sequence[Any], title: str | None = None) -> Table:
    """Agent rows as ``GET /plano/v1/agents`` lists them: state (red when down, green when
    healthy), whether Plano runs it, healthy replicas, restarts, URL and last error."""
    table = plain_table(
        "agent", "state", "managed", "replicas", "restarts", "url", "last error", title=title
    )
    for a in agents:
        if not isinstance(a, dict):
            continue
        style = "red" if agent_down(a) else ("green" if a.get("healthy") else "dim")
        table.add_row(
            escape(str(a.get("id", ""))),
            f"[{style}]{escape(str(a.get('state') or '-'))}[/]",
            "yes" if a.get("managed") else "",
            _replicas(a),
            str(a.get("restarts") or 0),
            escape(str(a.get("url") or "")),
            escape(str(a.get("last_error") or "")),
        )
    return table


def cmd_agents(args: argparse.Namespace) -> int:
    try:
        answer = admin_client(args).call("GET", "/plano/v1/agents")
    except AdminError as exc:
        return print_error(exc)
    agents: list[dict[str, Any]] = answer.get("agents", [])
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    out.print(agents_table(agents) if agents else "no agents declared")
    return 0


def add_agents_command(sub: Any) -> None:
    p = sub.add_parser("agents", help="agents of a running gateway: state, replicas, restarts")
    target_arguments(p)
    p.set_defaults(func=cmd_agents)
