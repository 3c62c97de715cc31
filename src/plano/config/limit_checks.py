"""Checks of ``budgets:``, ``rate_limits:`` and Plano's ``ratelimits:`` that need the whole
config: unique names, and model names that no declared model answers to."""

from __future__ import annotations

from plano.config.issues import ConfigIssue
from plano.config.names import ModelNames
from plano.config.schema import ModelProvider, PlanoConfig

__all__ = ["check_limits"]


def check_limits(config: PlanoConfig, names: ModelNames[ModelProvider]) -> list[ConfigIssue]:
    """Unique names; model names that no declared model answers to (warnings)."""
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for i, budget in enumerate(config.budgets):
        if budget.name in seen:
            issues.append(
                ConfigIssue(
                    f"budgets[{i}].name",
                    f"{budget.name!r} is also budgets[{seen[budget.name]}]; names are unique",
                )
            )
        seen.setdefault(budget.name, i)
    named: dict[str, int] = {}
    for i, rule in enumerate(config.rate_limits):
        if rule.name is not None and rule.name in named:
            issues.append(
                ConfigIssue(
                    f"rate_limits[{i}].name",
                    f"{rule.name!r} is also rate_limits[{named[rule.name]}]; names are unique",
                )
            )
        if rule.name is not None:
            named.setdefault(rule.name, i)
    wildcards = {f"{p.provider}/*" for p in config.model_providers}
    limited: list[tuple[str, list[str]]] = [
        *((f"budgets[{i}]", b.models) for i, b in enumerate(config.budgets)),
        *((f"rate_limits[{i}]", r.models) for i, r in enumerate(config.rate_limits)),
    ]
    for path, models in limited:
        for j, model in enumerate(models):
            if model not in wildcards and not names.has_entry(model):
                issues.append(_unknown(f"{path}.models[{j}]", model))
    for i, plano in enumerate(config.ratelimits):
        if not names.has_entry(plano.model):
            issues.append(_unknown(f"ratelimits[{i}].model", plano.model))
    return issues


def _unknown(path: str, model: str) -> ConfigIssue:
    return ConfigIssue(
        path, f"{model!r} is not a declared model; this limit never applies", "warning"
    )
