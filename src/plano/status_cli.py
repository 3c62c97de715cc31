"""``plano status``: what the running gateway says about itself (``GET /plano/v1/status``):
its listeners (with TLS), workers, stores and writers, auth and reload generation; and its
agents (``GET /plano/v1/agents``, the table of ``plano agents``) when it has any.

One call, answered by whichever worker accepts it: the generation, state and stores are
that worker's view (every worker reloads the same file). The gateway and the admin key are
found as for ``plano keys`` (``plano.admin_cli``). Exit status: 0 when the gateway is ready,
every store ok and every agent healthy; 2 when it answers but is starting, draining or
degraded; 1 when it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from plano.admin_cli import AdminError, admin_client, plain_table, print_error, target_arguments
from plano.agents_cli import agent_down, agents_table

__all__ = ["add_status_command", "cmd_status", "render_status", "status_verdict"]

out = Console(highlight=False)

_STATE_STYLE = {"ready": "green", "starting": "yellow", "draining": "yellow"}
_STORE_STYLE = {"ok": "green", "degraded": "red"}


def status_verdict(status: Mapping[str, Any]) -> int:
    """0: ready, every store ok, no agent unhealthy; 2: answering, but not (pure)."""
    stores = status.get("stores") or {}
    degraded = any(s.get("status") != "ok" for s in stores.values() if isinstance(s, dict))
    agents = status.get("agents") or []
    degraded |= any(isinstance(a, dict) and agent_down(a) for a in agents)
    return 0 if status.get("state") == "ready" and not degraded else 2


def _uptime(seconds: Any) -> str:
    s = int(float(seconds or 0))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    return " ".join([*parts, f"{minutes}m", f"{s}s"])


def _tls(value: Any) -> str:
    if value == "mutual":
        return "[green]mTLS[/]"
    return "[green]TLS[/]" if value else "[dim]plain[/]"


def _listeners(status: Mapping[str, Any]) -> Table:
    table = plain_table("name", "type", "url", "tls", "admin", "filters", title="listeners")
    for lst in status.get("listeners") or []:
        table.add_row(
            escape(str(lst.get("name", ""))),
            escape(str(lst.get("type", ""))),
            escape(str(lst.get("url", ""))),
            _tls(lst.get("tls")),
            "yes" if lst.get("admin") else "",
            escape(", ".join(lst.get("filters") or []) or "-"),
        )
    return table


def _stores(status: Mapping[str, Any]) -> Table:
    table = plain_table("store", "backend", "target", "status", "reason", title="stores")
    for name, s in (status.get("stores") or {}).items():
        state = str(s.get("status", "?"))
        style = _STORE_STYLE.get(state, "yellow")
        table.add_row(
            escape(name),
            escape(str(s.get("backend", ""))),
            escape(str(s.get("target", ""))),
            f"[{style}]{escape(state)}[/]",
            escape(str(s.get("reason") or "")),
        )
    for name in ("writer", "audit_writer"):
        w = status.get(name)
        if isinstance(w, dict):
            dropped = int(w.get("dropped") or 0)
            line = f"queued {w.get('queued', 0)}, written {w.get('written', 0)}"
            line += f", [red]dropped {dropped}[/]" if dropped else ", dropped 0"
            table.add_row(name, "", "", line, escape(str(w.get("last_error") or "")))
    return table


def render_status(status: Mapping[str, Any], console: Console) -> None:
    """The status as coloured text."""
    state = str(status.get("state", "?"))
    style = _STATE_STYLE.get(state, "red")
    console.print(
        f"[bold]plano[/] [{style}]{escape(state)}[/]  generation [bold]{status.get('generation')}"
        f"[/]  workers {status.get('workers')}  pid {status.get('pid')}  "
        f"up {_uptime(status.get('uptime_s'))}  in flight {status.get('in_flight', 0)}"
    )
    auth = status.get("auth") or {}
    if auth:
        keys = "virtual keys required" if auth.get("enabled") else "[yellow]open (no auth:)[/]"
        console.print(f"auth: {keys}")
    console.print(_listeners(status))
    for name in status.get("not_served") or []:
        console.print(f"  [dim]not served yet: {escape(str(name))}[/]")
    console.print(_stores(status))
    agents = status.get("agents")
    if isinstance(agents, list) and agents:
        console.print(agents_table(agents, title="agents"))


def cmd_status(args: argparse.Namespace) -> int:
    try:
        client = admin_client(args)
        status = client.call("GET", "/plano/v1/status")
    except AdminError as exc:
        return print_error(exc)
    try:
        agents = client.call("GET", "/plano/v1/agents").get("agents")
    except AdminError:
        agents = None  # a gateway without the agents API
    if agents:
        status = {**status, "agents": agents}
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        out.print(f"[dim]{escape(client.base_url)}[/]")
        render_status(status, out)
    return status_verdict(status)


def add_status_command(sub: Any) -> None:
    """Add ``status`` to the ``plano`` parser's subcommands."""
    p = sub.add_parser(
        "status", help="the running gateway: listeners, workers, stores, reload generation"
    )
    target_arguments(p)
    p.set_defaults(func=cmd_status)
