"""Checks that need the whole, structurally valid config: names, references, providers, ports.

Each check takes the model and returns issues; none raises, so a user sees every problem of a
config in one run instead of fixing them one start-up at a time.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from plano.config.agent_checks import check_agents
from plano.config.agent_run_checks import check_agent_runs
from plano.config.auth_checks import check_auth
from plano.config.issues import ConfigIssue, did_you_mean, format_path
from plano.config.limit_checks import check_limits
from plano.config.model_metrics_checks import check_metric_sources
from plano.config.names import ModelNames, config_names
from plano.config.offline_checks import check_offline
from plano.config.routing_checks import check_routing
from plano.config.schema import Listener, ModelProvider, PlanoConfig
from plano.providers.table import INTERFACES, KNOWN_PROVIDERS, ProviderSpec, resolve_spec

__all__ = ["check_semantics", "provider_spec"]

_ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]", ""})


def provider_spec(provider: ModelProvider) -> ProviderSpec | None:
    """The provider table entry a config entry uses (the one its deployments get).

    A provider Plano knows by name wins (``provider_interface`` is then redundant, except to
    opt an OpenAI-family provider into the Responses API); otherwise ``provider_interface``
    declares an unknown, OpenAI/Gemini/Anthropic-speaking provider, which needs ``base_url``.
    ``None`` when neither applies.
    """
    return resolve_spec(provider.provider, provider.provider_interface)


def check_semantics(config: PlanoConfig) -> list[ConfigIssue]:
    """Every cross-field problem of a validated config (errors and warnings)."""
    issues: list[ConfigIssue] = []
    if config.used_llm_providers:
        issues.append(
            ConfigIssue("llm_providers", "deprecated; rename it to model_providers", "warning")
        )
    if not config.model_providers:
        issues.append(
            ConfigIssue(
                "model_providers",
                "no model providers declared; every request will fail",
                "warning",
            )
        )
    for provider in config.model_providers:
        issues += _check_provider(provider)
    issues += _check_unique_names(config.model_providers)
    issues += _check_defaults(config.model_providers)
    names = config_names(config)
    issues += _check_aliases(config, names)
    issues += _check_routes(config, names)
    issues += _check_listeners(config)
    issues += _check_filter_ids(config)
    issues += check_agents(config)
    issues += check_routing(config, names)
    issues += check_auth(config, names)
    issues += check_limits(config, names)
    issues += check_agent_runs(config)
    issues += check_metric_sources(config)
    issues += check_offline(config)
    return issues


def _check_provider(provider: ModelProvider) -> list[ConfigIssue]:
    path = provider.source_path
    if "/" not in provider.model and provider.provider_interface is None:
        example = f"openai/{provider.model}"
        return [
            ConfigIssue(
                f"{path}.model",
                f"{provider.model!r} has no provider prefix; write 'provider/model_id' "
                f"(e.g. {example!r}) or set provider_interface",
            )
        ]
    issues: list[ConfigIssue] = []
    interface = provider.provider_interface
    if not provider.model_id:
        issues.append(ConfigIssue(f"{path}.model", f"{provider.model!r} has an empty model id"))
    if interface is not None and interface not in INTERFACES:
        issues.append(
            ConfigIssue(
                f"{path}.provider_interface",
                f"unknown provider_interface {interface!r}{did_you_mean(interface, INTERFACES)};"
                f" expected one of {', '.join(INTERFACES)}",
            )
        )
    elif interface is None and provider.provider not in KNOWN_PROVIDERS:
        issues.append(
            ConfigIssue(
                f"{path}.model",
                f"unknown provider {provider.provider!r}"
                f"{did_you_mean(provider.provider, KNOWN_PROVIDERS)}; for another "
                "OpenAI-compatible server set provider_interface and base_url",
            )
        )
    spec = provider_spec(provider)
    if spec is not None and spec.requires_base_url and not provider.base_url:
        issues.append(ConfigIssue(path, f"provider {provider.provider!r} requires base_url"))
    if provider.base_url and not _is_http_url(provider.base_url):
        issues.append(
            ConfigIssue(f"{path}.base_url", f"expected an http(s) URL, got {provider.base_url!r}")
        )
    issues += _check_provider_flags(provider)
    return issues


def _check_provider_flags(provider: ModelProvider) -> list[ConfigIssue]:
    path = provider.source_path
    issues: list[ConfigIssue] = []
    if provider.is_wildcard and provider.default:
        issues.append(
            ConfigIssue(f"{path}.default", f"wildcard model {provider.model!r} cannot be default")
        )
    if provider.passthrough_auth and provider.access_key:
        issues.append(
            ConfigIssue(
                f"{path}.access_key",
                "ignored: passthrough_auth forwards the client's credentials instead",
                "warning",
            )
        )
    return issues


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_unique_names(providers: list[ModelProvider]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    first_seen: dict[str, str] = {}
    for provider in providers:
        name = provider.effective_name
        if name in first_seen:
            field = "name" if provider.name is not None else "model"
            issues.append(
                ConfigIssue(
                    f"{provider.source_path}.{field}",
                    f"duplicate model name {name!r} (first declared at {first_seen[name]})",
                )
            )
        else:
            first_seen[name] = provider.source_path
    return issues


def _check_defaults(providers: list[ModelProvider]) -> list[ConfigIssue]:
    defaults = [provider for provider in providers if provider.default]
    return [
        ConfigIssue(
            f"{extra.source_path}.default",
            f"more than one model provider has default: true (first at {defaults[0].source_path})",
        )
        for extra in defaults[1:]
    ]


def _check_aliases(config: PlanoConfig, names: ModelNames[ModelProvider]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    declared = {p.effective_name for p in config.model_providers} | {
        p.model for p in config.model_providers
    }
    for alias, spec in config.model_aliases.items():
        if alias in declared:
            issues.append(
                ConfigIssue(
                    format_path(["model_aliases", alias]),
                    f"alias {alias!r} has the same name as a declared model",
                )
            )
        # What resolving the alias does: its target names an entry (aliases are one level).
        if not names.has_entry(spec.target) and spec.target not in config.model_pools:
            issues.append(
                ConfigIssue(
                    format_path(["model_aliases", alias, "target"]),
                    f"{spec.target!r} is not a declared model"
                    f"{did_you_mean(spec.target, sorted(declared))}",
                )
            )
    return issues


def _check_routes(config: PlanoConfig, names: ModelNames[ModelProvider]) -> list[ConfigIssue]:
    declared = sorted(names.entry_names())
    return [
        ConfigIssue(
            format_path(["routing_preferences", r, "models", m]),
            f"{model!r} is not a declared model{did_you_mean(model, declared)}",
        )
        for r, route in enumerate(config.routing_preferences)
        for m, model in enumerate(route.models)
        if not names.resolves(model)
        and model not in config.model_aliases
        and model not in config.model_pools
    ]


def _check_listeners(config: PlanoConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: list[Listener] = []
    names: dict[str, Listener] = {}
    for listener in config.listeners:
        clash = next((s for s in seen if _same_socket(s, listener)), None)
        if clash is not None:
            # Report at the listener the user wrote, never at the implicit one.
            at, other = (clash, listener) if listener.implicit else (listener, clash)
            issues.append(
                ConfigIssue(
                    f"{at.source_path}.port",
                    f"port {at.port} is already used by {_describe_listener(other)}",
                )
            )
        if listener.name in names and not listener.implicit:
            issues.append(
                ConfigIssue(
                    f"{listener.source_path}.name",
                    f"duplicate listener name {listener.name!r} "
                    f"(first at {names[listener.name].source_path})",
                )
            )
        names.setdefault(listener.name, listener)
        seen.append(listener)
    admin = config.gateway.admin_port
    taken = next((s for s in config.listeners if s.port == admin), None)
    if taken is not None:
        issues.append(
            ConfigIssue(
                "gateway.admin_port",
                f"port {admin} is already used by {_describe_listener(taken)}",
            )
        )
    metrics = config.metrics.port
    clash = next((s for s in config.listeners if s.port == metrics), None)
    if metrics is not None and (clash is not None or metrics == admin):
        used = _describe_listener(clash) if clash is not None else "gateway.admin_port"
        issues.append(ConfigIssue("metrics.port", f"port {metrics} is already used by {used}"))
    return issues


def _check_filter_ids(config: PlanoConfig) -> list[ConfigIssue]:
    """Agents and filters share one id namespace (Plano's rule); model listeners'
    ``input_filters`` / ``output_filters`` name filters of that namespace."""
    issues: list[ConfigIssue] = []
    first: dict[str, str] = {}
    entries = [(f"agents[{i}]", a.id) for i, a in enumerate(config.agents)]
    entries += [(f"filters[{i}]", f.id) for i, f in enumerate(config.filters)]
    for path, ident in entries:
        if ident in first:
            message = f"duplicate id {ident!r} (first declared at {first[ident]}); agents and "
            issues.append(ConfigIssue(f"{path}.id", message + "filters share one namespace"))
        else:
            first[ident] = path
    filters = sorted({f.id for f in config.filters})
    request_only = {f.id for f in config.filters if "output" not in f.roles}
    agents = {a.id for a in config.agents}
    for listener in config.listeners:
        if listener.type != "model":
            continue  # agent listeners: the orchestration issue
        for key in ("input_filters", "output_filters"):
            for j, ident in enumerate(getattr(listener, key)):
                at = f"{listener.source_path}.{key}[{j}]"
                if ident in agents and ident not in filters:
                    issues.append(ConfigIssue(at, f"{ident!r} is an agent, not a filter"))
                elif ident not in filters:
                    hint = did_you_mean(ident, filters) if filters else "; no filters are declared"
                    issues.append(ConfigIssue(at, f"unknown filter {ident!r}{hint}"))
                elif key == "output_filters" and ident in request_only:
                    message = f"filter {ident!r} runs on requests only; list it in input_filters"
                    issues.append(ConfigIssue(at, message))
    return issues


def _same_socket(a: Listener, b: Listener) -> bool:
    if a.port != b.port:
        return False
    return a.address == b.address or a.address in _ANY_ADDRESS or b.address in _ANY_ADDRESS


def _describe_listener(listener: Listener) -> str:
    if listener.implicit:
        return "the model listener added because none is declared"
    return f"listener {listener.name!r} ({listener.source_path})"
