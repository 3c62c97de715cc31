"""``plano keys create|list|show|revoke`` and ``plano audit``: clients of a running gateway's
admin API (``/plano/v1/keys``, ``/plano/v1/audit``).

Where the gateway is: ``--url``, else ``$PLANO_URL``, else the config's admin listener
(``gateway.admin_port``) or its model listener. The admin key: ``--admin-key``, else
``$PLANO_ADMIN_KEY``, else the config's ``gateway.admin_key``, but that one only to the
config's own listener (another ``--url`` gets no key unless given one explicitly: a mistyped
or hostile host must not receive it). The config is the one given,
else the one ``plano up -d`` serves, else ``./config.yaml`` (none: ``http://127.0.0.1:12000``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "AdminClient",
    "AdminError",
    "add_admin_commands",
    "admin_client",
    "gateway_target",
    "plain_table",
    "print_error",
    "same_listener",
    "target_arguments",
    "tls_context",
    "when_utc",
]

_SERVED = Path(".plano") / "plano.config"
_DEFAULT_URL = "http://127.0.0.1:12000"
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]", ""})

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class AdminError(Exception):
    """The admin API refused, or could not be reached."""


def plain_table(*columns: str, title: str | None = None, right: Collection[str] = ()) -> Table:
    """A table as every admin command prints one: no box, no edge padding, the title on
    the left (``plano keys``, ``status``, ``agents``, ``cost``, ``trace``); the columns
    named in ``right`` (numbers) right-justified."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def print_error(exc: Exception) -> int:
    """``error: <why>`` on stderr (the text escaped: it may hold the gateway's words); the
    exit status of a command that failed, 1."""
    err.print(f"[red]error[/]: {escape(str(exc))}", soft_wrap=True)
    return 1


class AdminClient:
    """A few JSON calls to the admin API (blocking: one command, one call)."""

    def __init__(
        self,
        base_url: str,
        admin_key: str | None,
        timeout: float = 15.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout
        #: For an https gateway: a private CA (--cacert), a client certificate (--cert).
        self.context = context

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path
        params = {k: v for k, v in (query or {}).items() if v not in (None, False, "")}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        if self.admin_key:  # never copied onto a redirect (and redirects are not followed)
            req.add_unredirected_header("Authorization", f"Bearer {self.admin_key}")
        opener = urllib.request.build_opener(
            _NoRedirects, urllib.request.HTTPSHandler(context=self.context)
        )
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                answer: dict[str, Any] = json.loads(resp.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = exc.headers.get("location", "?")
                raise AdminError(
                    f"{exc.code}: {self.base_url} redirects to {where[:200]}; the admin key is "
                    "not sent on (give the gateway's own address with --url)"
                ) from None
            raise AdminError(f"{exc.code}: {_message(exc.read())}") from None
        except (urllib.error.URLError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise AdminError(
                f"cannot reach the gateway at {self.base_url} ({why}); is it running? "
                "(--url says where)"
            ) from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The admin API never redirects: a redirect (a proxy, a wrong ``--url``) is an error
    rather than the admin key following it to another address."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(data)[:300]


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    try:
        served = Path(_SERVED.read_text().strip())
        if served.exists():
            return served
    except OSError:
        pass
    default = Path("config.yaml")
    return default if default.exists() else None


def gateway_target(args: argparse.Namespace) -> tuple[str, str | None]:
    """``(base URL, admin key)`` for the admin calls (see the module docstring)."""
    url = args.url or os.environ.get("PLANO_URL")
    key = args.admin_key or os.environ.get("PLANO_ADMIN_KEY")
    if url and key:
        return url, key
    path = _config_path(args.config)
    config = None
    if path is not None:
        from plano.config import check_config_file
        from plano.config.tls_checks import admin_tls

        try:
            config, _issues = check_config_file(path, os.environ)
        except Exception as exc:  # a config that cannot be read only loses the defaults
            err.print(f"[yellow]note[/]: {escape(str(exc))}; pass --url", soft_wrap=True)
    if config is None:
        return url or _DEFAULT_URL, key
    g = config.gateway
    listener = config.model_listener
    host = listener.address if listener.address not in _ANY_ADDRESS else "127.0.0.1"
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    port = g.admin_port or listener.port
    tls = admin_tls(config) if g.admin_port else listener.tls
    scheme = "https" if tls is not None else "http"
    own = f"{scheme}://{host}:{port}"
    if key is None and g.admin_key and url and not same_listener(url, own):
        err.print(
            f"[yellow]note[/]: not sending the config's admin key to {escape(url)} (not the "
            "config's listener); pass --admin-key or set PLANO_ADMIN_KEY",
            soft_wrap=True,
        )
        return url, None
    return url or own, key or g.admin_key


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def same_listener(url: str, own: str) -> bool:
    """Whether ``url`` names the config's own listener ``own`` (same scheme and port, the
    same host or both loopback): only then may the config's admin key go with it. Pure."""
    try:
        a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(own)
        ports = (a.port or _DEFAULT_PORTS.get(a.scheme), b.port or _DEFAULT_PORTS.get(b.scheme))
    except ValueError:
        return False
    if a.scheme != b.scheme or ports[0] != ports[1] or a.hostname is None:
        return False
    return a.hostname == b.hostname or {a.hostname, b.hostname} <= _LOOPBACK_HOSTS


_DEFAULT_PORTS = {"http": 80, "https": 443}


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for an https gateway: ``--cacert`` (else ``$PLANO_CACERT``, else the
    system's CAs) and ``--cert``/``--key`` for an admin listener that asks for one."""
    from plano.tls import TLSFileError, client_context

    ca = getattr(args, "cacert", None) or os.environ.get("PLANO_CACERT")
    cert, key = getattr(args, "cert", None), getattr(args, "key", None)
    if not (ca or cert):
        return None
    try:
        built = client_context(
            Path(ca) if ca else None,
            Path(cert) if cert else None,
            Path(key or cert) if cert else None,  # the key may be in the certificate file
        )
    except TLSFileError as exc:
        raise AdminError(str(exc)) from None
    return built.context


def admin_client(args: argparse.Namespace) -> AdminClient:
    """The client the target arguments (:func:`target_arguments`) describe."""
    url, key = gateway_target(args)
    return AdminClient(url, key, context=tls_context(args))


def when_utc(value: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SSZ`` (empty for ``None``)."""
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _list(values: Any) -> str:
    return ", ".join(values) if values else "any"


def cmd_keys(args: argparse.Namespace) -> int:
    try:
        return int(_KEY_ACTIONS[args.keys_command](admin_client(args), args))
    except AdminError as exc:
        return print_error(exc)


def _create(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        name: value
        for name, value in (
            ("id", args.id),
            ("name", args.name),
            ("user", args.user),
            ("team", args.team),
            ("tenant", args.tenant),
            ("tags", args.tag),
            ("models", args.model),
            ("agents", args.agent),
            ("budgets", args.budget),
            ("rate_limits", args.rate_limit),
            ("expires_at", args.expires),
            ("expires_in", args.expires_in),
        )
        if value
    }
    made = client.call("POST", "/plano/v1/keys", body=body)
    if args.json:
        print(json.dumps(made, indent=2))
        return 0
    out.print(f"[green]✓[/] key [bold]{escape(made['id'])}[/] created")
    out.print(f"  key: {made['key']}", soft_wrap=True)
    out.print("  [yellow]shown once[/]: store it now; Plano keeps only its hash")
    if not made.get("enforced", True):
        out.print("  [yellow]note[/]: auth is not enabled in this gateway's config (auth:)")
    return 0


def _keys_table(keys: list[dict[str, Any]]) -> Table:
    table = plain_table(
        "id", "source", "user", "team", "tenant", "models", "expires", "revoked", "hint"
    )
    for k in keys:
        table.add_row(
            *(escape(str(k.get(f) or "")) for f in ("id", "source", "user", "team", "tenant")),
            escape(_list(k.get("models"))),
            when_utc(k.get("expires_at")),
            when_utc(k.get("revoked_at")),
            escape(str(k.get("hint") or "")),
        )
    return table


def _list_keys(client: AdminClient, args: argparse.Namespace) -> int:
    query = {
        "user": args.user,
        "team": args.team,
        "tenant": args.tenant,
        "include_revoked": "true" if args.all else None,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    page = client.call("GET", "/plano/v1/keys", query=query)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    out.print(_keys_table(page["data"]))
    if page.get("next"):
        out.print(f"[dim]more: --cursor {page['next']}[/]")
    return 0


def _show(client: AdminClient, args: argparse.Namespace) -> int:
    key = client.call("GET", f"/plano/v1/keys/{urllib.parse.quote(args.key_id, safe='')}")
    if args.json:
        print(json.dumps(key, indent=2))
    else:
        out.print(_keys_table([key]))
    return 0


def _revoke(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/plano/v1/keys/{urllib.parse.quote(args.key_id, safe='')}"
    done = client.call("DELETE", path)
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        when = when_utc(done["revoked_at"])
        out.print(f"[green]✓[/] key [bold]{escape(done['id'])}[/] revoked at {when}")
    return 0


_KEY_ACTIONS = {"create": _create, "list": _list_keys, "show": _show, "revoke": _revoke}


def cmd_audit(args: argparse.Namespace) -> int:
    query = {
        "since": args.since,
        "until": args.until,
        "principal": args.principal,
        "action": args.action,
        "source": args.source,
        "request_id": args.request_id,
        "kind": args.kind,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    try:
        page = admin_client(args).call("GET", "/plano/v1/audit", query=query)
    except AdminError as exc:
        return print_error(exc)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    table = plain_table(
        "time", "principal", "source", "action", "rule", "model", "status", "request"
    )
    for e in page["data"]:
        what = e.get("model") or e.get("model_requested") or e.get("target") or ""
        table.add_row(
            when_utc(e.get("ts")),
            escape(str(e.get("principal") or "")),
            escape(str(e.get("source") or "")),
            escape(str(e.get("action") or "")),
            escape(str(e.get("rule") or "")),
            escape(str(what)),
            str(e.get("status") or ""),
            escape(str(e.get("request_id") or e.get("id") or "")),
        )
    out.print(table)
    if page.get("next"):
        out.print(f"[dim]more: --cursor {page['next']}[/]")
    return 0


def target_arguments(p: argparse.ArgumentParser) -> None:
    """``--config --url --admin-key --json`` and the TLS flags (every admin command)."""
    p.add_argument("--config", help="config file (default: the served one, else ./config.yaml)")
    p.add_argument("--url", help="the gateway's admin base URL (default: from the config)")
    p.add_argument("--admin-key", help="admin key (default: $PLANO_ADMIN_KEY, else the config's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--cacert", help="CA bundle of an https gateway (default: $PLANO_CACERT)")
    p.add_argument("--cert", help="client certificate, for an admin listener with mutual TLS")
    p.add_argument("--key", help="the client certificate's key (default: in --cert)")


def add_admin_commands(sub: Any) -> None:
    """Add ``keys`` and ``audit`` to the ``plano`` parser's subcommands."""
    keys = sub.add_parser("keys", help="virtual keys of a running gateway (admin API)")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key (its secret is shown once)")
    create.add_argument("--id", help="the key's id (default: generated)")
    create.add_argument("--name", help="a description")
    for name in ("user", "team", "tenant"):
        create.add_argument(f"--{name}", help=f"the key's {name}")
    for flag, what in (
        ("tag", "a tag"),
        ("model", "a model, name, alias or glob it may use (default: any)"),
        ("agent", "an agent it may call (default: any)"),
        ("budget", "a budget it is charged to"),
        ("rate-limit", "a rate limit applied to it"),
    ):
        create.add_argument(f"--{flag}", action="append", default=[], help=f"{what}; repeatable")
    create.add_argument("--expires", help="when it stops working (ISO 8601 or epoch seconds)")
    create.add_argument("--expires-in", help="or how long it works: 30d, 12h, 90m")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    for name in ("user", "team", "tenant"):
        listing.add_argument(f"--{name}", help=f"only keys of this {name}")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--cursor", help="the page after this cursor")
    show = actions.add_parser("show", help="one key")
    show.add_argument("key_id")
    revoke = actions.add_parser("revoke", help="revoke a key made with `plano keys create`")
    revoke.add_argument("key_id")
    for p in (create, listing, show, revoke):
        target_arguments(p)
        p.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="the audit trail of a running gateway (admin API)")
    audit.add_argument("--since", help="from this time (ISO 8601 or epoch seconds)")
    audit.add_argument("--until", help="before this time")
    audit.add_argument("--principal", help="a principal id (a key's id, admin)")
    audit.add_argument("--action", help="allow, deny, key.create, key.revoke, config.reload...")
    audit.add_argument("--source", help="auth, policy:<name>, budget, admin...")
    audit.add_argument("--request-id", help="one request's decisions")
    audit.add_argument("--kind", choices=["request", "admin"])
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--cursor", help="the page after this cursor")
    target_arguments(audit)
    audit.set_defaults(func=cmd_audit)
