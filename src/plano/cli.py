"""``plano``: validate a config, serve it (foreground or detached), reload it, stop it, run
the demo.

Every subcommand is a small function; the argument parser is the only global.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from plano import __version__
from plano.errors import ConfigError

__all__ = ["main"]

STATE_DIR = Path(".plano")
PID_FILE = STATE_DIR / "plano.pid"
LOG_FILE = STATE_DIR / "plano.log"
READY_FILE = STATE_DIR / "plano.ready"
#: The config file a detached gateway serves (what `plano reload` checks by default).
CONFIG_FILE = STATE_DIR / "plano.config"

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def _find_config(given: str | None) -> Path:
    if given:
        path = Path(given)
        if not path.exists():
            raise ConfigError(f"Config file '{given}' does not exist.")
        return path
    default = Path("config.yaml")
    if default.exists():
        return default
    raise ConfigError(
        "No config file given and ./config.yaml does not exist.\n"
        "  Pass a path (plano up path/to/config.yaml), copy examples/config.yaml to\n"
        "  ./config.yaml,"
        " or try `plano demo` to run with built-in simulated providers."
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from plano.config import check_config_file

    try:
        path = _find_config(args.config)
        # The same reading and checks as `plano up` (load_config), so the two cannot disagree.
        _config, issues = check_config_file(path, os.environ)
    except ConfigError as exc:
        err_console.print(f"[red]error[/]: {exc.message}")
        return 1
    errors = [i for i in issues if i.severity == "error"]
    if args.json:
        out_console.print_json(
            json.dumps(
                {
                    "file": str(path),
                    "valid": not errors,
                    "issues": [
                        {"path": i.path, "message": i.message, "severity": i.severity}
                        for i in issues
                    ],
                }
            )
        )
        return 1 if errors else 0
    style = {"error": "red", "warning": "yellow", "offline": "magenta", "unsupported": "cyan"}
    for issue in issues:
        out_console.print(f"[{style[issue.severity]}]{issue.severity}[/] {issue}", soft_wrap=True)
    if errors:
        out_console.print(f"[red]✗ {path}: {len(errors)} error(s)[/]")
        return 1
    out_console.print(f"[green]✓ {path} is valid[/] ({len(issues)} note(s))")
    return 0


def _load(path: Path) -> object:
    from plano.config import load_config

    config, issues = load_config(path, os.environ)
    for issue in issues:
        if issue.severity != "unsupported":
            err_console.print(f"[yellow]{issue.severity}[/] {issue}", soft_wrap=True)
    unsupported = [i for i in issues if i.severity == "unsupported"]
    if unsupported:
        err_console.print(
            f"[cyan]note[/] {len(unsupported)} config key(s) accepted but not supported yet "
            f"(`plano validate {path}` lists them)"
        )
    return config


def cmd_up(args: argparse.Namespace) -> int:
    from plano.config import PlanoConfig
    from plano.server.edge import HostPolicy, describe_exposure
    from plano.server.listeners import not_served, plan_listeners
    from plano.server.runner import BindError, ServeOptions, serve_forever
    from plano.server.state_setup import describe_state, state_settings

    try:
        path = _find_config(args.config)
        config = _load(path)
    except ConfigError as exc:
        err_console.print(f"[red]error[/]: {exc.message}")
        return 1
    assert isinstance(config, PlanoConfig)
    specs = plan_listeners(config, args.host, args.port)
    model = next(s for s in specs if s.kind == "model")
    if args.detach:
        return _detach(path, args, model.host, model.port)
    g = config.gateway
    _setup_logging(args.log_level or g.log_level)
    opts = ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers or g.workers,
        drain_timeout=g.drain_timeout,
        ready_file=Path(args.ready_file) if args.ready_file else None,
        config_path=path.resolve(),
        watch=args.watch or g.watch_config,
    )
    watching = "; reloads when the file changes" if opts.watch else ""
    err_console.print(
        f"[green]plano[/] {__version__} serving [bold]{path}[/] on {model.url} "
        f"({opts.workers} worker(s)); Ctrl-C to stop{watching}"
    )
    policy = HostPolicy.build(model.host, g.allowed_hosts, g.allowed_origins, g.admin_key)
    for line in describe_exposure(policy, model.host, _auth_line(config)):
        err_console.print(f"  [dim]•[/] {escape(line)}", soft_wrap=True)
    for spec in specs:
        if spec is not model:
            err_console.print(f"  [dim]•[/] {spec.kind} listener {spec.name!r} on {spec.url}")
    for name in not_served(config):
        err_console.print(f"  [dim]•[/] listener {escape(name)}: accepted, not served yet")
    for line in describe_state(config, state_settings(config, opts.workers)):
        err_console.print(f"  [dim]•[/] {escape(line)}", soft_wrap=True)
    try:
        return serve_forever(config, opts)
    except BindError as exc:
        why = exc.strerror or str(exc)
        if exc.in_use:
            why = "the port is in use by another process (another plano, or something else)"
        where = f"{exc.spec.host}:{exc.spec.port}"
        err_console.print(f"[red]error[/]: cannot listen on {where} ({exc.spec.source}): {why}")
        return 1


def _auth_line(config: Any) -> str | None:
    """How the model API authenticates, for the banner (``None``: it does not)."""
    auth = config.auth
    if auth is None or not auth.enabled:
        return None
    return (
        f"virtual keys required ({len(auth.keys)} static key(s) in auth.keys; "
        "`plano keys create` makes more)"
    )


def _detach(path: Path, args: argparse.Namespace, host: str, port: int) -> int:
    if _running_pid() is not None:
        err_console.print(f"[red]error[/]: plano is already running (pid {_running_pid()})")
        return 1
    STATE_DIR.mkdir(exist_ok=True)
    READY_FILE.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "plano", "up", str(path), "--ready-file", str(READY_FILE)]
    if args.host:
        cmd += ["--host", args.host]
    if args.port:
        cmd += ["--port", str(args.port)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.watch:
        cmd += ["--watch"]
    if args.log_level:
        cmd += ["--log-level", args.log_level]
    with LOG_FILE.open("ab") as log_fh:
        proc = subprocess.Popen(
            cmd, stdout=log_fh, stderr=log_fh, stdin=subprocess.DEVNULL, start_new_session=True
        )
    PID_FILE.write_text(str(proc.pid))
    CONFIG_FILE.write_text(str(path.resolve()))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if READY_FILE.exists():
            err_console.print(
                f"[green]plano[/] started in the background (pid {proc.pid}), "
                f"http://{host}:{port}; logs: {LOG_FILE}; reload with `plano reload`, "
                "stop with `plano down`"
            )
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    err_console.print(f"[red]error[/]: plano did not start; see {LOG_FILE}")
    PID_FILE.unlink(missing_ok=True)
    CONFIG_FILE.unlink(missing_ok=True)
    return 1


def _running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def cmd_down(args: argparse.Namespace) -> int:
    pid = _running_pid()
    if pid is None:
        err_console.print("plano is not running (no live pid in .plano/plano.pid)")
        PID_FILE.unlink(missing_ok=True)
        return 0 if args.quiet_if_stopped else 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    else:
        err_console.print(f"[yellow]plano (pid {pid}) did not stop in time; killing it[/]")
        os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    READY_FILE.unlink(missing_ok=True)
    CONFIG_FILE.unlink(missing_ok=True)
    err_console.print(f"[green]plano stopped[/] (pid {pid})")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    """Validate the config here (as `plano validate` does), then ask the running gateway to
    reload it (SIGHUP): it validates again, swaps the new runtime in, and logs the outcome."""
    from plano.config import check_config_file

    served = _served_config()
    try:
        path = _find_config(args.config or (str(served) if served else None))
        _config, issues = check_config_file(path, os.environ)
    except ConfigError as exc:
        err_console.print(f"[red]error[/]: {exc.message}")
        return 1
    errors = [i for i in issues if i.severity == "error"]
    for issue in errors:
        err_console.print(f"[red]error[/] {issue}", soft_wrap=True)
    if errors:
        err_console.print(
            f"[red]✗ {path}: {len(errors)} error(s); not reloaded[/] (the running config "
            "keeps serving)"
        )
        return 1
    if served is not None and path.resolve() != served:
        err_console.print(
            f"[red]error[/]: the running gateway serves {served}; it reloads that file "
            f"(restart it to serve {path})"
        )
        return 1
    pid = args.pid if args.pid is not None else _running_pid()
    if pid is None:
        err_console.print(
            "[red]error[/]: plano is not running (no live pid in .plano/plano.pid; pass --pid)"
        )
        return 1
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        err_console.print(f"[red]error[/]: cannot signal pid {pid}: {exc.strerror or exc}")
        return 1
    err_console.print(
        f"[green]✓ {path} is valid[/]; reload signalled to plano (pid {pid}); "
        "the gateway logs the new generation"
    )
    return 0


def _served_config() -> Path | None:
    """The config file of the gateway `plano up -d` started, if it runs."""
    if _running_pid() is None:
        return None
    try:
        return Path(CONFIG_FILE.read_text().strip())
    except OSError:
        return None


def cmd_schema(args: argparse.Namespace) -> int:
    from plano.config import json_schema

    text = json.dumps(json_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from plano.demo import run_demo

    return run_demo(port=args.port, keep=args.keep)


def cmd_sim(args: argparse.Namespace) -> int:
    from plano.sim.cli import run

    return run(args)


def _db_targets(args: argparse.Namespace) -> list[str]:
    """The databases a config keeps durable state in: ``state.postgres`` or else the SQLite
    file ``state.path``, and the Responses store's own (``state_storage``) when separate."""
    from plano.config import PlanoConfig
    from plano.store.db import DEFAULT_SQLITE_PATH

    if args.database:
        return [args.database]
    if not args.config and not Path("config.yaml").exists():
        return [str(DEFAULT_SQLITE_PATH)]
    config = _load(_find_config(args.config))
    assert isinstance(config, PlanoConfig)
    targets = [config.state.postgres or config.state.path]
    ss = config.state_storage
    if ss is not None and ss.type == "postgres" and ss.connection_string:
        targets.append(ss.connection_string)
    elif ss is not None and ss.type == "sqlite":
        targets.append(ss.path)
    return list(dict.fromkeys(targets))


def cmd_db(args: argparse.Namespace) -> int:
    """``plano db migrate`` / ``plano db status``: schema versions of the durable stores."""
    import asyncio

    from plano.store.admin import migrate_target, status_of_target
    from plano.store.protocols import StoreUnavailable

    try:
        targets = _db_targets(args)
    except ConfigError as exc:
        err_console.print(f"[red]error[/]: {exc.message}")
        return 1
    reports: list[dict[str, Any]] = []
    failed = False
    for target in targets:
        try:
            if args.db_command == "migrate":
                done, status = asyncio.run(migrate_target(target))
                report = {**status.to_json(), "applied_now": [m.version for m in done]}
            else:
                report = asyncio.run(status_of_target(target)).to_json()
        except StoreUnavailable as exc:
            failed = True
            report = {"database": _describe(target), "error": exc.message}
        reports.append(report)
    if args.json:
        out_console.print_json(json.dumps({"databases": reports}))
    else:
        for report in reports:
            _print_db_report(report)
    return 1 if failed else 0


def _describe(target: str) -> str:
    from plano.store.db import describe_target

    return describe_target(target)


def _print_db_report(report: dict[str, Any]) -> None:
    name = escape(str(report["database"]))
    if "error" in report:
        err_console.print(f"[red]✗[/] {escape(str(report['error']))}", soft_wrap=True)
        return
    pending = report["pending"]
    state = "[green]up to date[/]" if not pending else f"[yellow]{len(pending)} pending[/]"
    if not report["exists"]:
        state += " (the file does not exist yet; `plano db migrate` or `plano up` creates it)"
    out_console.print(f"{name}: version {report['current_version']}, {state}", soft_wrap=True)
    applied_now = report.get("applied_now")
    if applied_now:
        out_console.print(f"  [green]applied now[/]: {', '.join(map(str, applied_now))}")
    for m in pending:
        out_console.print(f"  [dim]pending[/] {m['version']} {m['name']}")
    for key, what in (("modified", "changed since applied"), ("unknown", "unknown to this plano")):
        versions = report[key]
        if versions:
            out_console.print(f"  [yellow]warning[/] version(s) {versions} {what}")


def cmd_policy(args: argparse.Namespace) -> int:
    """``plano policy test``: the policies' Rego tests and case tables."""
    from plano.policy.testing import load_policies_of, render, run_tests

    try:
        path = _find_config(args.config)
    except ConfigError as exc:
        err_console.print(f"[red]error[/]: {exc.message}")
        return 1
    loaded, errors = load_policies_of(path)
    if errors:
        for issue in errors:
            err_console.print(f"[red]error[/] {escape(str(issue))}", soft_wrap=True)
        return 1
    if not loaded:
        out_console.print(f"[yellow]{escape(str(path))} declares no policies[/]")
        return 0
    results = run_tests(loaded)
    for line in render(results):
        out_console.print(line, soft_wrap=True)
    return 1 if any(not r.passed for r in results) else 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="plano",
        description="Plano: an AI-native proxy and data plane for LLM agents.",
        epilog="Start with `plano demo` (no keys needed), then `plano up config.yaml`.",
    )
    p.add_argument("--version", action="version", version=f"plano {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:  # in the order ``plano --help`` lists them
        add(sub)
    return p


def _add_serving_commands(sub: Any) -> None:
    """``validate``, ``up``, ``down``, ``reload``."""
    v = sub.add_parser("validate", help="check a config and list every problem with its path")
    v.add_argument("config", nargs="?", help="config file (default: ./config.yaml)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=cmd_validate)

    u = sub.add_parser("up", help="serve a config (foreground; -d for background)")
    u.add_argument("config", nargs="?", help="config file (default: ./config.yaml)")
    u.add_argument("-d", "--detach", action="store_true", help="run in the background")
    u.add_argument("--host", help="override the model listener's address")
    u.add_argument("--port", type=int, help="override the model listener's port")
    u.add_argument(
        "--workers", type=int, help="worker processes sharing the ports (above 1: supervised)"
    )
    u.add_argument("--watch", action="store_true", help="reload the config when the file changes")
    u.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    u.add_argument("--ready-file", help=argparse.SUPPRESS)
    u.set_defaults(func=cmd_up)

    d = sub.add_parser("down", help="stop a gateway started with `plano up -d`")
    d.add_argument("--timeout", type=float, default=40.0, help="seconds to wait for the drain")
    d.add_argument("--quiet-if-stopped", action="store_true", help=argparse.SUPPRESS)
    d.set_defaults(func=cmd_down)

    r = sub.add_parser(
        "reload", help="validate a config and make the running gateway reload it (SIGHUP)"
    )
    r.add_argument(
        "config",
        nargs="?",
        help="config file (default: the one `plano up -d` serves, else ./config.yaml)",
    )
    r.add_argument("--pid", type=int, help="the gateway's pid (default: .plano/plano.pid)")
    r.set_defaults(func=cmd_reload)


def _add_tool_commands(sub: Any) -> None:
    """``demo``, ``schema``, ``db``, ``policy``."""
    demo = sub.add_parser("demo", help="gateway + simulated providers + traffic, no keys needed")
    demo.add_argument("--port", type=int, default=12000, help="gateway port (default 12000)")
    demo.add_argument("--keep", action="store_true", help="keep serving after the traffic")
    demo.set_defaults(func=cmd_demo)

    s = sub.add_parser("schema", help="print the config's JSON Schema")
    s.add_argument("-o", "--output", help="write to a file instead of stdout")
    s.set_defaults(func=cmd_schema)

    db = sub.add_parser("db", help="schema migrations of the durable state databases")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for action, text in (
        ("migrate", "apply pending migrations (plano up also does, at start-up)"),
        ("status", "which database, its version, pending migrations"),
    ):
        a = db_sub.add_parser(action, help=text)
        a.add_argument("config", nargs="?", help="config file (default: ./config.yaml)")
        a.add_argument(
            "--database", help="a postgresql:// URL or SQLite file instead of the config's"
        )
        a.add_argument("--json", action="store_true", help="machine-readable output")
        a.set_defaults(func=cmd_db)

    pol = sub.add_parser("policy", help="Rego policies: run their tests")
    pol_sub = pol.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    pt = pol_sub.add_parser(
        "test", help="run the policies' Rego tests (test_*) and their tables of sample inputs"
    )
    pt.add_argument("config", nargs="?", help="config file (default: ./config.yaml)")
    pt.set_defaults(func=cmd_policy)


def _add_client_commands(sub: Any) -> None:
    """The admin API's clients (``keys``, ``audit``, ``agents``, ``trace``, ``status``,
    ``cost``), ``init`` and ``sim``: each module adds its own (imported here, lazily)."""
    from plano.admin_cli import add_admin_commands

    add_admin_commands(sub)

    from plano.agents_cli import add_agents_command

    add_agents_command(sub)

    from plano.trace_cli import add_trace_command

    add_trace_command(sub)

    from plano.status_cli import add_status_command

    add_status_command(sub)

    from plano.cost_cli import add_cost_command

    add_cost_command(sub)

    from plano.init_cli import add_arguments as init_arguments

    init = sub.add_parser("init", help="write a starter config from a template (--list)")
    init_arguments(init)

    from plano.sim.cli import add_arguments

    sim = sub.add_parser("sim", help="run simulated OpenAI/Anthropic/Gemini providers")
    add_arguments(sim)
    sim.set_defaults(func=cmd_sim)


_COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_serving_commands,
    _add_tool_commands,
    _add_client_commands,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
