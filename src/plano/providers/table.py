"""Which wire family each provider speaks, where it lives and how it authenticates.

Providers are data: adding an OpenAI-compatible provider is one row here, not a new class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "INTERFACES",
    "KNOWN_PROVIDERS",
    "AuthStyle",
    "Family",
    "ProviderSpec",
    "spec_for",
]

Family: TypeAlias = Literal["openai", "anthropic", "gemini"]
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


def _p(name: str, family: Family, base_url: str | None, **kw: object) -> ProviderSpec:
    return ProviderSpec(name, family, base_url, **kw)  # type: ignore[arg-type]


KNOWN_PROVIDERS: dict[str, ProviderSpec] = {
    s.name: s
    for s in (
        _p("openai", "openai", "https://api.openai.com"),
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
        ),
        _p("anthropic", "anthropic", "https://api.anthropic.com", auth="x-api-key"),
        _p(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            auth="x-goog-api-key",
        ),
        _p("amazon_bedrock", "openai", None, requires_base_url=True),
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
