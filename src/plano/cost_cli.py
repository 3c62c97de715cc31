"""``plano cost``: who spent what, from a running gateway's usage log (a client of
``GET /plano/v1/usage``; where the gateway is and its admin key as for ``plano keys``).

    plano cost                               by model, all time
    plano cost --by team --since 7d          by team over the last week
    plano cost --by key,day --format csv     by key and day, as CSV
    plano cost --by user --team search --format json

Costs are exact decimal strings end to end (summed by the database as decimals), never
floats; the table sorts groups by cost, highest first.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import time
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from plano.admin_cli import AdminError, admin_client, plain_table, print_error, target_arguments

__all__ = ["BY", "add_cost_command", "cmd_cost", "cost_rows", "parse_since"]

#: ``--by`` names and the usage API's group names for each.
BY: dict[str, tuple[str, ...]] = {
    "model": ("provider", "model"),
    "provider": ("provider",),
    "key": ("key",),
    "user": ("user",),
    "team": ("team",),
    "tenant": ("tenant",),
    "agent": ("agent",),
    "session": ("session",),
    "route": ("route",),
    "day": ("day",),
    "hour": ("hour",),
}
#: Filters: the flag's destination and the usage API's parameter.
FILTERS = (
    ("model", "model"),
    ("provider", "provider"),
    ("key_id", "key"),
    ("user", "user"),
    ("team", "team"),
    ("tenant", "tenant"),
    ("agent", "agent"),
    ("session", "session"),
    ("route", "route"),
)
_SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd")
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

out = Console(highlight=False)


def parse_since(text: str | None, now: float | None = None) -> str | None:
    """``--since``: a span back from now (``30m``, ``24h``, ``7d``, ``2w``) as epoch seconds,
    else the text as given (ISO 8601 or epoch seconds; the gateway checks it)."""
    if not text:
        return None
    m = _SPAN.match(text.strip())
    if m is None:
        return text
    now = time.time() if now is None else now
    return f"{now - float(m.group(1)) * _SECONDS[m.group(2)]:.3f}"


def _groups(by: list[str]) -> list[str]:
    names: list[str] = []
    for item in by:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            if part not in BY:
                raise AdminError(f"cannot group by {part!r}; use {', '.join(BY)}")
            names += [g for g in BY[part] if g not in names]
    return names or list(BY["model"])


def cost_rows(report: dict[str, Any], groups: list[str]) -> list[dict[str, Any]]:
    """Each group's sums (costs as exact strings), the costliest first."""
    rows = [
        {**{g: r.get(g) for g in groups}, **{s: r.get(s, 0) for s in _SUMS}}
        for r in report.get("groups", [])
    ]
    rows.sort(key=lambda r: Decimal(r["cost_usd"] or 0), reverse=True)
    return rows


def _totals(report: dict[str, Any]) -> dict[str, Any]:
    t = report.get("totals", {})
    return {s: t.get(s, 0) for s in _SUMS}


def _table(rows: list[dict[str, Any]], groups: list[str], totals: dict[str, Any]) -> Table:
    table = plain_table()
    table.show_footer = True
    for i, g in enumerate(groups):
        table.add_column(g, footer="total" if i == 0 else "")
    for s in _SUMS:
        table.add_column(s.replace("_tokens", "").replace("_usd", " ($)"), justify="right",
                         footer=str(totals[s]))  # fmt: skip
    for r in rows:
        cells = [escape("—" if r[g] is None else str(r[g])) for g in groups]
        table.add_row(*cells, *(str(r[s]) for s in _SUMS))
    return table


def _csv(rows: list[dict[str, Any]], groups: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*groups, *_SUMS])
    for r in rows:
        w.writerow([*("" if r[g] is None else r[g] for g in groups), *(r[s] for s in _SUMS)])
    return buf.getvalue()


def cmd_cost(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else args.format
    try:
        groups = _groups(args.by)
        query: dict[str, Any] = {
            "group_by": ",".join(groups),
            "since": parse_since(args.since),
            "until": parse_since(args.until),
            "limit": "0",  # the sums only, no page of records
        }
        for dest, param in FILTERS:
            query[param] = getattr(args, dest)
        report = admin_client(args).call("GET", "/plano/v1/usage", query=query)
    except AdminError as exc:
        return print_error(exc)
    rows = cost_rows(report, groups)
    totals = _totals(report)
    if fmt == "json":
        body = {"by": groups, "since": query["since"], "groups": rows, "totals": totals}
        print(json.dumps(body, indent=2))
    elif fmt == "csv":
        sys.stdout.write(_csv(rows, groups))
    else:
        out.print(_table(rows, groups, totals))
    return 0


def add_cost_command(sub: Any) -> None:
    """Add ``cost`` to the ``plano`` parser's subcommands."""
    p = sub.add_parser("cost", help="cost and tokens by model, key, user, team, agent, day...")
    p.add_argument(
        "--by",
        action="append",
        default=[],
        help=f"group by ({', '.join(BY)}); repeatable or comma-separated (default: model)",
    )
    p.add_argument("--since", help="from: 30m, 24h, 7d, 2w back, or ISO 8601 / epoch seconds")
    p.add_argument("--until", help="before (same forms as --since)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    for dest, param in FILTERS:
        flag = "--key-id" if dest == "key_id" else f"--{param}"
        p.add_argument(flag, dest=dest, help=f"only this {param}")
    target_arguments(p)  # --config --url --admin-key --json (= --format json), TLS
    p.set_defaults(func=cmd_cost)
