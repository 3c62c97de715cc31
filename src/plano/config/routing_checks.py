"""Cross-field checks of the routing extensions: every name a pool, rule, fallback or router
refers to must resolve, and settings that cannot work are reported with their path.

Like :mod:`plano.config.checks`, each check returns issues and never raises.
"""

from __future__ import annotations

from collections.abc import Iterable

from plano.config.issues import ConfigIssue, did_you_mean, format_path
from plano.config.names import ModelNames, config_names
from plano.config.offline_checks import hosted_router, router_name
from plano.config.schema import ModelProvider, PlanoConfig

__all__ = ["check_routing"]


class _Names:
    """What a routing reference may name: a pool, an alias (its target is checked where it
    is declared) or a model as routing resolves it."""

    def __init__(self, config: PlanoConfig, models: ModelNames[ModelProvider]) -> None:
        self.models = models
        self.aliases = set(config.model_aliases)
        self.pools = set(config.model_pools)

    def resolves(self, name: str) -> bool:
        return name in self.pools or name in self.aliases or self.models.resolves(name)

    def choices(self) -> list[str]:
        return sorted(self.models.entry_names() | self.aliases | self.pools)

    def issue(
        self, path: list[str | int], name: str, what: str = "a declared model, alias or pool"
    ) -> ConfigIssue:
        hint = did_you_mean(name, self.choices())
        return ConfigIssue(format_path(path), f"{name!r} is not {what}{hint}")


def _router_model_path(config: PlanoConfig) -> list[str | int]:
    if config.preference_router.model:
        return ["preference_router", "model"]
    if config.routing is not None and config.routing.model:
        return ["routing", "model"]
    return ["overrides", "llm_routing_model"]


def check_routing(
    config: PlanoConfig, models: ModelNames[ModelProvider] | None = None
) -> list[ConfigIssue]:
    names = _Names(config, models if models is not None else config_names(config))
    issues = _check_pools(config, names)
    issues += _check_rules(config, names)
    issues += _check_fallback(config, names)
    issues += _check_router(config, names)
    return issues


def _refs(names: _Names, base: list[str | int], refs: Iterable[str]) -> list[ConfigIssue]:
    return [names.issue([*base, i], ref) for i, ref in enumerate(refs) if not names.resolves(ref)]


def _check_pools(config: PlanoConfig, names: _Names) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for pool_name, pool in config.model_pools.items():
        base: list[str | int] = ["model_pools", pool_name]
        if pool_name in names.aliases:
            issues.append(
                ConfigIssue(format_path(base), f"{pool_name!r} is also a model_aliases name")
            )
        seen: set[str] = set()
        for i, member in enumerate(pool.deployments):
            path: list[str | int] = [*base, "deployments", i, "model"]
            if not names.models.has_entry(member.model):
                issues.append(names.issue(path, member.model, "a model_providers entry"))
            elif member.model in seen:
                issues.append(
                    ConfigIssue(format_path(path), f"{member.model!r} is listed twice", "warning")
                )
            seen.add(member.model)
        issues += _refs(names, [*base, "fallbacks"], pool.fallbacks)
        if pool_name in pool.fallbacks:
            issues.append(
                ConfigIssue(format_path([*base, "fallbacks"]), "a pool cannot fall back to itself")
            )
    return issues


def _check_rules(config: PlanoConfig, names: _Names) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    last = len(config.routing_rules) - 1
    for i, rule in enumerate(config.routing_rules):
        base: list[str | int] = ["routing_rules", i]
        if not names.resolves(rule.route_to):
            issues.append(names.issue([*base, "route_to"], rule.route_to))
        issues += _refs(names, [*base, "fallbacks"], rule.fallbacks)
        if rule.name in seen:
            issues.append(
                ConfigIssue(
                    format_path([*base, "name"]),
                    f"duplicate rule name {rule.name!r} "
                    f"(first at routing_rules[{seen[rule.name]}])",
                    "warning",
                )
            )
        seen.setdefault(rule.name, i)
        if not rule.when.model_fields_set and i < last:
            issues.append(
                ConfigIssue(
                    format_path([*base, "when"]),
                    "matches every request: the rules after it never apply",
                    "warning",
                )
            )
    return issues


def _check_fallback(config: PlanoConfig, names: _Names) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, targets in config.fallback.models.items():
        base: list[str | int] = ["fallback", "models", name]
        if name != "*" and not names.resolves(name):
            issues.append(names.issue(base, name))
        issues += _refs(names, base, targets)
    backoff = config.fallback.backoff
    if backoff.initial > backoff.max:
        issues.append(
            ConfigIssue("fallback.backoff.initial", "is larger than fallback.backoff.max")
        )
    return issues


def _check_router(config: PlanoConfig, names: _Names) -> list[ConfigIssue]:
    pref = config.preference_router
    issues: list[ConfigIssue] = []
    routes = [r.name for r in config.routing_preferences]
    routes += [r.name for p in config.model_providers for r in p.routing_preferences]
    if pref.default_route is not None and pref.default_route not in routes:
        issues.append(
            ConfigIssue(
                "preference_router.default_route",
                f"{pref.default_route!r} is not a routing_preferences route"
                f"{did_you_mean(pref.default_route, routes)}",
            )
        )
    model = router_name(config)
    if not routes:
        model = None  # nothing to route: the router model is never called
    if pref.type == "llm" and model is None and routes:
        issues.append(
            ConfigIssue(
                "preference_router.model",
                "type llm needs a router model (here, routing.model or "
                "overrides.llm_routing_model)",
            )
        )
    if (
        model is not None
        and (pref.type or "llm") == "llm"
        and not names.resolves(model)
        and not hosted_router(model, names.models)  # an offline note (offline_checks.py)
    ):
        issues.append(names.issue(_router_model_path(config), model))
    if "preference_router" in config.model_fields_set and not routes:
        issues.append(
            ConfigIssue("preference_router", "has no effect without routing_preferences", "warning")
        )
    return issues
