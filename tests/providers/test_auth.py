"""auth_headers: one header per auth style; pass-through of the client's own credentials."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from plano.providers.auth import auth_headers
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS


def _dep(provider: str, key: str | None = "sk-key", passthrough: bool = False) -> Deployment:
    return Deployment(
        f"{provider}/m",
        provider,
        "m",
        KNOWN_PROVIDERS[provider],
        "http://127.0.0.1:1",
        key,
        passthrough_auth=passthrough,
    )


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        ("openai", {"authorization": "Bearer sk-key"}),
        ("groq", {"authorization": "Bearer sk-key"}),
        ("vllm", {"authorization": "Bearer sk-key"}),
        ("anthropic", {"x-api-key": "sk-key"}),
        ("azure_openai", {"api-key": "sk-key"}),
        ("gemini", {"x-goog-api-key": "sk-key"}),
        ("ollama", {}),
    ],
)
def test_auth_style_per_provider(provider: str, headers: dict[str, str]) -> None:
    client = CIMultiDict({"Authorization": "Bearer client-key"})
    assert auth_headers(_dep(provider), client) == headers


def test_no_key_no_header() -> None:
    assert auth_headers(_dep("openai", key=None), {}) == {}


def test_passthrough_forwards_the_client_credentials_in_their_own_header() -> None:
    client = CIMultiDict(
        {
            "Authorization": "Bearer client-key",
            "X-Api-Key": "client-anthropic",
            "x-goog-api-key": "client-goog",
            "api-key": "client-azure",
            "Cookie": "session=1",
            "X-Other": "no",
        }
    )
    out = auth_headers(_dep("openai", key="sk-configured", passthrough=True), client)
    assert out == {
        "authorization": "Bearer client-key",
        "x-api-key": "client-anthropic",
        "api-key": "client-azure",
        "x-goog-api-key": "client-goog",
    }


def test_passthrough_without_client_credentials_sends_none() -> None:
    # The configured key is never a silent substitute for the caller's.
    assert auth_headers(_dep("openai", key="sk-configured", passthrough=True), {}) == {}
