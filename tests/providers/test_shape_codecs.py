"""The Anthropic, Gemini and Responses codecs: URLs, auth and version headers, error decoding,
and how a deployment picks the Responses wire."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from plano.core.model import ChatRequest
from plano.providers.anthropic import DEFAULT_VERSION, AnthropicCodec
from plano.providers.deployment import Deployment
from plano.providers.gemini import GeminiCodec
from plano.providers.openai_compat import OpenAICodec
from plano.providers.registry import CODECS
from plano.providers.responses import ResponsesCodec
from plano.providers.table import KNOWN_PROVIDERS, resolve_spec
from plano.wire import anthropic_messages, openai_chat

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _dep(provider: str, model: str, base: str | None = None, **kw: object) -> Deployment:
    spec = KNOWN_PROVIDERS[provider]
    return Deployment(
        f"{provider}/{model}", provider, model, spec, base or spec.base_url or "", "k-1", **kw
    )  # type: ignore[arg-type]


def _chat(stream: bool = False) -> ChatRequest:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return openai_chat.parse_request(body)


def test_codecs_are_registered() -> None:
    assert {"openai", "anthropic", "gemini", "openai_responses"} <= set(CODECS)


def test_anthropic_request_headers() -> None:
    dep = _dep("anthropic", "claude-sonnet-4-5")
    ureq = AnthropicCodec().build(dep, _chat(), {})
    assert ureq.url == "https://api.anthropic.com/v1/messages"
    assert ureq.headers["x-api-key"] == "k-1" and "authorization" not in ureq.headers
    assert ureq.headers["anthropic-version"] == DEFAULT_VERSION
    assert orjson.loads(ureq.body)["max_tokens"] == anthropic_messages.DEFAULT_MAX_TOKENS


def test_anthropic_forwards_client_version_and_beta() -> None:
    client = {"anthropic-version": "2024-01-01", "anthropic-beta": "prompt-caching-2024-07-31"}
    ureq = AnthropicCodec().build(_dep("anthropic", "c"), _chat(), client)
    assert ureq.headers["anthropic-version"] == "2024-01-01"
    assert ureq.headers["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_anthropic_error() -> None:
    body = (FIXTURES / "anthropic" / "error.json").read_bytes()
    err = AnthropicCodec().decode_error(429, body, {"retry-after": "12"})
    assert err.status == 429 and err.retry_after == 12 and err.upstream_type == "rate_limit_error"
    assert err.is_retryable


@pytest.mark.parametrize(
    ("base", "stream", "url"),
    [
        (
            None,
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            "http://127.0.0.1:9/v1beta",
            True,
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
    ],
)
def test_gemini_urls(base: str | None, stream: bool, url: str) -> None:
    ureq = GeminiCodec().build(_dep("gemini", "models/gemini-2.5-flash", base), _chat(stream), {})
    assert ureq.url == url
    assert ureq.headers["x-goog-api-key"] == "k-1"


@pytest.mark.parametrize(
    ("model_id", "segment"),
    [
        ("gemini-2.0-flash", "gemini-2.0-flash"),
        ("models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("/internal/admin?x=", "%2Finternal%2Fadmin%3Fx%3D"),
        ("../../v1/files#", "..%2F..%2Fv1%2Ffiles%23"),
        ("a b%2F", "a%20b%252F"),
    ],
)
def test_gemini_model_id_is_one_encoded_path_segment(model_id: str, segment: str) -> None:
    # The catalog rejects such ids first; the codec still cannot be steered by one.
    ureq = GeminiCodec().build(_dep("gemini", model_id), _chat(), {})
    base = "https://generativelanguage.googleapis.com/v1beta/models/"
    assert ureq.url == f"{base}{segment}:generateContent"


def test_gemini_error_uses_retry_info() -> None:
    body = (FIXTURES / "gemini" / "error_429.json").read_bytes()
    err = GeminiCodec().decode_error(429, body, {})
    assert err.retry_after == 38.0 and err.code == "RESOURCE_EXHAUSTED"
    assert err.upstream_type == "rate_limit_error"
    assert GeminiCodec().decode_error(500, b"oops", {}).message.startswith("The provider")


def test_responses_deployment_option() -> None:
    spec = resolve_spec("openai", "openai_responses")
    assert spec is not None and spec.family == "openai_responses" and spec.auth == "bearer"
    assert resolve_spec("openai") is KNOWN_PROVIDERS["openai"]
    assert resolve_spec("azure_openai", "openai_responses") is KNOWN_PROVIDERS["azure_openai"]
    custom = resolve_spec("my-proxy", "openai_responses")
    assert custom is not None and custom.family == "openai_responses" and custom.requires_base_url
    dep = Deployment("openai/gpt-5", "openai", "gpt-5", spec, "https://api.openai.com", "k-1")
    ureq = ResponsesCodec().build(dep, _chat(), {})
    assert ureq.url == "https://api.openai.com/v1/responses"
    assert ureq.headers["authorization"] == "Bearer k-1"
    body = orjson.loads(ureq.body)
    assert body["store"] is False and body["input"][0]["role"] == "user"


@pytest.mark.parametrize(
    ("provider", "param"), [("openai", "max_completion_tokens"), ("groq", "max_tokens")]
)
def test_translated_limit_uses_the_providers_parameter(provider: str, param: str) -> None:
    req = anthropic_messages.parse_request(
        {"model": "x", "max_tokens": 300, "messages": [{"role": "user", "content": "hi"}]}
    )
    body = orjson.loads(OpenAICodec().build(_dep(provider, "m"), req, {}).body)
    assert body[param] == 300 and len({"max_tokens", "max_completion_tokens"} & set(body)) == 1
    # The client's own OpenAI body is forwarded as it was written.
    chat = openai_chat.parse_request({**req.raw, "messages": req.raw["messages"]})  # type: ignore[dict-item]
    assert "max_tokens" in orjson.loads(OpenAICodec().build(_dep(provider, "m"), chat, {}).body)
