"""Keys that name something on the internet: accepted, and ``plano validate`` says what happens
without it (severity ``offline``).

Plano's configs lean on services its vendor runs: the hosted router / orchestrator model
(``Plano-Orchestrator``, provider ``plano`` without a ``base_url``), the ChatGPT subscription
backend, and public pricing catalogues (``model_metrics_sources`` of provider ``digitalocean``
or ``models.dev``). Plano-for-Python starts and serves without any of them; each note names the
offline stand-in (``docs/compatibility.md``).
"""

from __future__ import annotations

from plano.config.issues import ConfigIssue
from plano.config.names import ModelNames, config_names
from plano.config.schema import ModelProvider, PlanoConfig
from plano.errors import InvalidRequest
from plano.providers.table import resolve_spec

__all__ = ["HOSTED_ROUTER", "check_offline", "hosted_router", "router_name"]

#: Plano's default router and orchestrator model, served by its vendor.
HOSTED_ROUTER = "Plano-Orchestrator"


def router_name(config: PlanoConfig) -> str | None:
    """The model the LLM preference router would call (ours first, then Plano's keys)."""
    if config.preference_router.model:
        return config.preference_router.model
    if config.routing is not None and config.routing.model:
        return config.routing.model
    if config.overrides is not None and config.overrides.llm_routing_model:
        return config.overrides.llm_routing_model
    return None


def hosted_router(name: str, models: ModelNames[ModelProvider]) -> bool:
    """Whether a router / orchestrator model name means the vendor-hosted service: Plano's
    default name or a ``plano/...`` name no entry declares, or an entry of provider ``plano``
    without a ``base_url`` of its own."""
    try:
        match = models.resolve(name)
    except InvalidRequest:
        match = None
    if match is None:
        return name == HOSTED_ROUTER or name.startswith("plano/")
    return _vendor_hosted(match.value)


def _vendor_hosted(provider: ModelProvider) -> bool:
    spec = resolve_spec(provider.provider, provider.provider_interface)
    return spec is not None and spec.vendor_hosted and not provider.base_url


def check_offline(config: PlanoConfig) -> list[ConfigIssue]:
    """One ``offline`` note per key whose service is on the internet."""
    names = config_names(config)
    issues: list[ConfigIssue] = []
    for provider in config.model_providers:
        issues += _provider_notes(provider)
    router = router_name(config)
    has_routes = bool(config.routing_preferences) or any(
        p.routing_preferences for p in config.model_providers
    )
    if router is not None and has_routes and hosted_router(router, names):
        issues.append(
            ConfigIssue(
                _router_path(config),
                f"{router!r} is the vendor-hosted router model, which needs the internet: it "
                "is not called; routing_preferences are chosen offline by embeddings "
                "(wordllama), and the log says so once",
                "offline",
            )
        )
    for i, source in enumerate(config.model_metrics_sources):
        if source.type == "cost" and source.url is None:
            issues.append(
                ConfigIssue(
                    f"model_metrics_sources[{i}]",
                    f"the hosted {source.provider} price catalogue is not fetched (no url): "
                    "prefer: cheapest ranks by the bundled offline prices (genai-prices); "
                    "set url to poll a catalogue or a mirror of it",
                    "offline",
                )
            )
    return issues


def _provider_notes(provider: ModelProvider) -> list[ConfigIssue]:
    path = f"{provider.source_path}.model"
    if _vendor_hosted(provider):
        return [
            ConfigIssue(
                path,
                f"{provider.model!r} is vendor-hosted (archfc.katanemo.dev) and needs the "
                "internet: as the router or orchestrator it is not called (embeddings choose "
                "offline); requests naming it fail over like any unreachable upstream. "
                "Set base_url to serve it yourself (vLLM, ollama)",
                "offline",
            )
        ]
    if provider.provider == "chatgpt":
        how = "access_key" if provider.access_key else "the client's own token (passthrough)"
        return [
            ConfigIssue(
                path,
                f"{provider.model!r} calls the ChatGPT subscription backend (chatgpt.com) with "
                f"{how}: it needs the internet and a ChatGPT login (`planoai chatgpt login` "
                "tokens are not read); offline, its requests fail over like any unreachable "
                "upstream",
                "offline",
            )
        ]
    return []


def _router_path(config: PlanoConfig) -> str:
    if config.preference_router.model:
        return "preference_router.model"
    if config.routing is not None and config.routing.model:
        return "routing.model"
    return "overrides.llm_routing_model"
