"""``plano trace``: the recent traces a running gateway keeps (``/plano/v1/traces``), listed,
or one shown as a waterfall in the terminal (hops, filters, routing, attempts with their
timings, tokens, cost and errors). No collector needed. Where the gateway is and its admin
key: as every admin command (``plano.admin_cli``)::

    plano trace                          the last 20 traces
    plano trace --since 15m --where model=gpt-4o-mini --where status=error
    plano trace 4bf92f3577b34da6a3ce929d0e0e4736     one trace as a waterfall
    plano trace --last                   the newest trace as a waterfall
    plano trace --json                   the API's JSON
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from plano.admin_cli import (
    AdminClient,
    AdminError,
    admin_client,
    plain_table,
    print_error,
    target_arguments,
    when_utc,
)

__all__ = ["add_trace_command", "cmd_trace", "waterfall"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_BAR = 40
_SERVICE_STYLE = {
    "plano(inbound)": "bold cyan",
    "plano(filter)": "magenta",
    "plano(routing)": "yellow",
    "plano(llm)": "green",
    "plano(agent)": "blue",
    "plano(orchestrator)": "blue",
    "plano(tool)": "bright_blue",
}


def _cost(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        return f"${float(value):.6f}"
    except (TypeError, ValueError):
        return str(value)


def traces_table(traces: Sequence[dict[str, Any]]) -> Table:
    table = plain_table(
        "time (UTC)", "trace", "root", "model", "ms", "spans", "tokens", "cost", "status",
        right=("ms", "spans", "tokens"),
    )  # fmt: skip
    for t in traces:
        status = str(t.get("status") or "")
        errors = int(t.get("errors") or 0)
        shown = f"[red]{status}[/]" if status == "error" else status
        if errors and status != "error":
            shown += f" [yellow]({errors} failed)[/]"
        table.add_row(
            when_utc(t.get("started_at")),
            escape(str(t.get("trace_id", ""))),
            escape(str(t.get("root_name") or "")),
            escape(str(t.get("model") or "")),
            f"{float(t.get('duration_ms') or 0):.1f}",
            str(t.get("span_count") or 0),
            str(t.get("tokens") or 0),
            _cost(t.get("cost")),
            shown,
        )
    return table


def _ordered(spans: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Spans depth first (children by start time), with their depth."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s.get("parent_id") if s.get("parent_id") in ids else None
        children.setdefault(parent, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: s.get("start_ns", 0))
    out_: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            out_.append((depth, s))
            walk(s["span_id"], depth + 1)

    walk(None, 0)
    return out_


def _details(s: dict[str, Any]) -> str:
    a = s.get("attributes") or {}
    bits: list[str] = []
    model = a.get("gen_ai.response.model") or a.get("llm.model")
    if model and s.get("service") != "plano(inbound)":
        bits.append(str(model))
    if "plano.attempt" in a:
        bits.append(f"attempt {a['plano.attempt']}")
    tokens_in, tokens_out = a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")
    if tokens_in is not None or tokens_out is not None:
        bits.append(f"{tokens_in or 0}→{tokens_out or 0} tok")
    cost = a.get("gen_ai.usage.cost", a.get("llm.usage.total_cost_usd"))
    if cost is not None:
        bits.append(_cost(cost))
    if a.get("llm.time_to_first_token") is not None:
        bits.append(f"ttft {a['llm.time_to_first_token']} ms")
    if a.get("routing.route"):
        bits.append(f"route {a['routing.route']}")
    if a.get("error.type"):
        bits.append(f"[red]{a['error.type']}[/]")
    return " ".join(escape(b) if not b.startswith("[red]") else b for b in bits)


def waterfall(trace: dict[str, Any]) -> Table:
    """One trace as a table: each span indented under its parent, with a bar placed on the
    trace's time line."""
    spans = trace.get("spans") or []
    start = min((s["start_ns"] for s in spans), default=0)
    end = max((s["end_ns"] for s in spans), default=start + 1)
    total = max(end - start, 1)
    table = plain_table(
        "span", "service", "start ms", "ms", "waterfall", "details",
        title=f"trace {trace.get('trace_id', '')}", right=("start ms", "ms"),
    )  # fmt: skip
    for depth, s in _ordered(spans):
        offset = s["start_ns"] - start
        length = max(s["end_ns"] - s["start_ns"], 0)
        left = int(offset / total * _BAR)
        width = max(1, round(length / total * _BAR))
        left = min(left, _BAR - 1)
        width = min(width, _BAR - left)
        style = "red" if s.get("status") == "error" else _SERVICE_STYLE.get(s["service"], "white")
        bar = Text(" " * left)
        bar.append("█" * width, style=style)
        bar.append(" " * (_BAR - left - width))
        name = Text("  " * depth + s["name"], style="red" if s.get("status") == "error" else "")
        table.add_row(
            name,
            Text(s["service"], style=_SERVICE_STYLE.get(s["service"], "")),
            f"{offset / 1e6:.1f}",
            f"{length / 1e6:.1f}",
            bar,
            _details(s),
        )
    return table


def cmd_trace(args: argparse.Namespace) -> int:
    client = admin_client(args)
    try:
        if args.trace_id or args.last:
            trace_id = args.trace_id
            if not trace_id:
                found = _list(client, args, limit=1)
                if not found:
                    err.print("no traces kept yet")
                    return 1
                trace_id = found[0]["trace_id"]
            trace = client.call("GET", f"/plano/v1/traces/{trace_id}")
            if args.json:
                print(json.dumps(trace, indent=2))
            else:
                out.print(waterfall(trace))
            return 0
        traces = _list(client, args, limit=args.limit)
    except AdminError as exc:
        return print_error(exc)
    if args.json:
        print(json.dumps({"traces": traces}, indent=2))
    elif not traces:
        out.print("no traces (is tracing: on in the config?)")
    else:
        out.print(traces_table(traces))
    return 0


def _list(client: AdminClient, args: argparse.Namespace, *, limit: int) -> list[dict[str, Any]]:
    query: list[tuple[str, Any]] = [("limit", limit)]
    if args.since:
        query.append(("since", args.since))
    query += [("where", w) for w in args.where]  # repeated: encoded here, not by the client
    page = client.call("GET", "/plano/v1/traces?" + urllib.parse.urlencode(query))
    traces: list[dict[str, Any]] = page.get("traces", [])
    return traces


def add_trace_command(sub: Any) -> None:
    """Add ``trace`` to the ``plano`` parser's subcommands."""
    p = sub.add_parser("trace", help="recent traces of a running gateway: list, or a waterfall")
    p.add_argument("trace_id", nargs="?", help="show this trace as a waterfall")
    p.add_argument("--last", action="store_true", help="show the newest trace as a waterfall")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only traces with this summary field (model, status, service, principal, route) "
        "or span attribute (gen_ai.provider.name=openai); repeatable",
    )
    p.add_argument("--since", help="from this time: epoch seconds, ISO 8601, or an age (15m)")
    p.add_argument("--limit", type=int, default=20, help="traces listed (default 20)")
    target_arguments(p)
    p.set_defaults(func=cmd_trace)
