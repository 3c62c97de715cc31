"""``plano agents``: the agents of a running gateway and their state (``GET /plano/v1/agents``),
through the admin API client of ``admin_cli`` (URL and admin key from flags, the environment
or the config)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from plano.admin_cli import AdminError, admin_client, target_arguments

__all__ = ["add_agents_command", "cmd_agents"]

out = Console()
err = Console(stderr=True)
_COLOURS = {"up": "green", "starting": "yellow", "crash-looping": "red", "down": "red"}


def cmd_agents(args: argparse.Namespace) -> int:
    try:
        answer = admin_client(args).call("GET", "/plano/v1/agents")
    except AdminError as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}", soft_wrap=True)
        return 1
    agents: list[dict[str, Any]] = answer.get("agents", [])
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    table = Table(box=None, pad_edge=False)
    for col in ("agent", "state", "replicas", "restarts", "url", "last error"):
        table.add_column(col)
    for a in agents:
        state = str(a.get("state"))
        replicas = a.get("replicas") or []
        healthy = a.get("healthy")
        count = f"{healthy}/{len(replicas)} healthy" if healthy is not None else "external"
        pids = [str(r["pid"]) for r in replicas if r.get("pid")]
        if pids:
            count += f" (pid {', '.join(pids)})"
        table.add_row(
            escape(str(a.get("id"))),
            f"[{_COLOURS.get(state, 'white')}]{escape(state)}[/]",
            count,
            str(a.get("restarts", 0)),
            escape(str(a.get("url", ""))),
            escape(str(a.get("last_error") or "")),
        )
    out.print(table if agents else "no agents declared")
    return 0


def add_agents_command(sub: Any) -> None:
    p = sub.add_parser("agents", help="agents of a running gateway: state, replicas, restarts")
    target_arguments(p)
    p.set_defaults(func=cmd_agents)
