"""Which wire family each provider speaks, where it lives and how it authenticates.

Providers are data: adding an OpenAI-compatible provider is one row here, not a new class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

__all__ = [
    "INTERFACES",
    "KNOWN_PROVIDERS",
    "AuthStyle",
    "Family",
    "ProviderSpec",
    "resolve_spec",
    "spec_for",
]

#: ``openai_responses``: the OpenAI Responses API (``/v1/responses``) as the upstream wire.
Family: TypeAlias = Literal["openai", "anthropic", "gemini", "openai_responses"]
#: How the access key travels: ``Authorization: Bearer``, Anthropic's ``x-api-key``,
#: Azure's ``api-key``, or Gemini's ``x-goog-api-key``.
AuthStyle: TypeAlias = Literal["bearer", "x-api-key", "api-key", "x-goog-api-key", "none"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    family: Family
    base_url: str | None
    auth: AuthStyle = "bearer"
    #: Path of the chat endpoint under ``base_url``; ``{model}`` is filled in for Azure.
    chat_path: str = "/v1/chat/completions"
    requires_base_url: bool = False
    #: Whether the provider accepts ``stream_options.include_usage``.
    stream_usage_option: bool = True
    #: Extra fixed query string (Azure's api-version).
    query: str = ""
    #: Name of the output-token limit for requests translated from other shapes: OpenAI's
    #: reasoning models reject ``max_tokens`` and take only ``max_completion_tokens``.
    max_tokens_param: str = "max_tokens"
    #: Path of the Responses endpoint under ``base_url`` (ChatGPT's backend has no ``/v1``).
    responses_path: str = "/v1/responses"
    #: Headers every request to this provider carries (an entry's ``headers`` win).
    default_headers: tuple[tuple[str, str], ...] = ()
    #: With no ``access_key``, forward the client's credentials (ChatGPT: the user's own
    #: subscription token).
    passthrough_without_key: bool = False
    #: A service run by a vendor on the internet, not a model API one buys (``plano``: the
    #: hosted Plano-Orchestrator / Arch-Router): ``plano validate`` says what happens offline.
    vendor_hosted: bool = False


def _p(name: str, family: Family, base_url: str | None, **kw: object) -> ProviderSpec:
    return ProviderSpec(name, family, base_url, **kw)  # type: ignore[arg-type]


KNOWN_PROVIDERS: dict[str, ProviderSpec] = {
    s.name: s
    for s in (
        _p("openai", "openai", "https://api.openai.com", max_tokens_param="max_completion_tokens"),
        _p("groq", "openai", "https://api.groq.com/openai"),
        _p("mistral", "openai", "https://api.mistral.ai"),
        _p("deepseek", "openai", "https://api.deepseek.com"),
        _p("xai", "openai", "https://api.x.ai"),
        _p("together_ai", "openai", "https://api.together.xyz"),
        _p("openrouter", "openai", "https://openrouter.ai/api"),
        _p("moonshotai", "openai", "https://api.moonshot.ai"),
        _p(
            "zhipu", "openai", "https://open.bigmodel.cn/api/paas", chat_path="/v4/chat/completions"
        ),
        _p("qwen", "openai", None, requires_base_url=True),
        _p("vllm", "openai", None, requires_base_url=True, auth="bearer"),
        _p("ollama", "openai", None, requires_base_url=True, auth="none"),
        _p(
            "azure_openai",
            "openai",
            None,
            auth="api-key",
            requires_base_url=True,
            chat_path="/openai/deployments/{model}/chat/completions",
            query="api-version=2025-01-01-preview",
            max_tokens_param="max_completion_tokens",
        ),
        _p("anthropic", "anthropic", "https://api.anthropic.com", auth="x-api-key"),
        _p(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            auth="x-goog-api-key",
        ),
        _p("amazon_bedrock", "openai", None, requires_base_url=True),
        # Plano's own router / orchestrator models: vendor-hosted unless base_url points at
        # one's own server (vLLM, ollama), which speaks OpenAI chat completions.
        _p("plano", "openai", "https://archfc.katanemo.dev", vendor_hosted=True),
        # A ChatGPT Plus/Pro subscription through the Codex backend (the Responses API).
        _p(
            "chatgpt",
            "openai_responses",
            "https://chatgpt.com/backend-api/codex",
            responses_path="/responses",
            passthrough_without_key=True,
            default_headers=(("originator", "codex_cli_rs"),),
        ),
    )
}

#: ``provider_interface`` values Plano accepts, and the family each one speaks.
INTERFACES: dict[str, Family] = {
    "plano": "openai",
    "openai": "openai",
    "deepseek": "openai",
    "groq": "openai",
    "mistral": "openai",
    "xiaomi": "openai",
    "chatgpt": "openai",
    "digitalocean": "openai",
    "vercel": "openai",
    "openrouter": "openai",
    "edenai": "openai",
    "moonshotai": "openai",
    "gemini": "gemini",
    "anthropic": "anthropic",
    "openai_responses": "openai_responses",
}


def spec_for(provider: str, interface: str | None = None) -> ProviderSpec | None:
    """The spec for a provider name, or for an unknown provider declared by its interface."""
    if interface is not None:
        known = KNOWN_PROVIDERS.get(interface)
        family = INTERFACES.get(interface)
        if family is None:
            return None
        if known is not None and known.family == family:
            return ProviderSpec(
                provider,
                family,
                None,
                auth=known.auth,
                chat_path=known.chat_path,
                requires_base_url=True,
            )
        return ProviderSpec(provider, family, None, requires_base_url=True)
    return KNOWN_PROVIDERS.get(provider)


def resolve_spec(provider: str, interface: str | None = None) -> ProviderSpec | None:
    """The spec a deployment uses: a provider known by name wins, except that an
    OpenAI-family provider may opt into the Responses API with
    ``provider_interface: openai_responses``."""
    known = KNOWN_PROVIDERS.get(provider)
    if known is None:
        return spec_for(provider, interface)
    if interface == "openai_responses" and known.family == "openai" and not known.query:
        return replace(known, family="openai_responses")
    return known
