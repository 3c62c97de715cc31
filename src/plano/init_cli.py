"""``plano init``: a starter config from a template (like Plano's ``planoai init``).

Templates are commented YAML files shipped in ``plano/templates/``; each validates as written
once its ``$VARS`` are set (``tests/test_init_cli.py``). ``--list`` shows them; an existing file
is never overwritten without ``--force``. Plano's template ids are accepted as aliases of ours.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rich.console import Console

__all__ = ["TEMPLATES", "Template", "add_arguments", "cmd_init", "env_vars", "template_text"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
_FOLDER = Path(__file__).parent / "templates"
_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    description: str
    #: Plano's ``planoai init`` ids that mean this template.
    aliases: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return _FOLDER / f"{self.name}.yaml"


TEMPLATES: Final[tuple[Template, ...]] = (
    Template("gateway", "model gateway: providers, aliases, failover"),
    Template(
        "routing",
        "preference routing: routes by description, cheapest/fastest, pools, metrics sources",
        ("preference_aware_routing", "coding_agent_routing"),
    ),
    Template(
        "agents",
        "agents behind one endpoint: orchestration, managed agent processes",
        ("sub_agent_orchestration",),
    ),
    Template(
        "guardrails",
        "virtual keys, a Rego policy, PII redaction, prompt-injection guard, rate limits",
        ("filter_chain_guardrails",),
    ),
    Template(
        "state",
        "shared state for workers and replicas: Redis, PostgreSQL, budgets, sessions",
        ("conversational_state_v1_responses",),
    ),
)
_BY_NAME: Final[dict[str, Template]] = {name: t for t in TEMPLATES for name in (t.name, *t.aliases)}


def template_text(name: str) -> str:
    """The template's YAML; ``KeyError`` for an unknown name."""
    return _BY_NAME[name].path.read_text(encoding="utf-8")


def env_vars(text: str) -> list[str]:
    """The environment variables a config reads (comments aside), in order of first use."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return list(dict.fromkeys(_VAR.findall(code)))


def cmd_init(args: argparse.Namespace) -> int:
    if args.list:
        for t in TEMPLATES:
            also = f" (Plano: {', '.join(t.aliases)})" if t.aliases else ""
            out.print(f"[bold]{t.name:<11}[/] {t.description}{also}", soft_wrap=True)
        return 0
    template = _BY_NAME.get(args.template)
    if template is None:
        names = ", ".join(t.name for t in TEMPLATES)
        err.print(
            f"[red]error[/]: unknown template {args.template!r}; one of: {names}", soft_wrap=True
        )
        return 2
    target = Path(args.output)
    if target.exists() and not args.force:
        err.print(f"[red]error[/]: {target} exists; pass --force to overwrite it")
        return 1
    text = template.path.read_text(encoding="utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error[/]: cannot write {target}: {exc.strerror or exc}")
        return 1
    out.print(f"[green]wrote[/] {target} (template [bold]{template.name}[/])")
    needed = env_vars(text)
    if needed:
        out.print("next: set " + ", ".join(needed) + f", then `plano validate {target}`")
    else:
        out.print(f"next: `plano validate {target}`")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--template",
        "-t",
        default="gateway",
        help="which starter config (default: gateway; --list shows them)",
    )
    p.add_argument("--output", "-o", default="config.yaml", help="where to write it")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--list", action="store_true", help="list the templates")
    p.set_defaults(func=cmd_init)
