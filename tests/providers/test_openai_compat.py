"""OpenAICodec: the upstream HTTP request per provider row, and error decoding."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from multidict import CIMultiDict

from plano.core.model import ChatRequest, Message, TextPart
from plano.errors import UpstreamStatusError
from plano.providers.deployment import Deployment
from plano.providers.openai_compat import OpenAICodec, parse_error_body
from plano.providers.table import KNOWN_PROVIDERS, spec_for
from plano.wire import openai_chat, openai_chat_answer, openai_chat_stream

CODEC = OpenAICodec()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"


def _dep(
    provider: str,
    base_url: str,
    *,
    model: str = "gpt-4o",
    key: str | None = "sk-key",
    headers: tuple[tuple[str, str], ...] = (),
) -> Deployment:
    spec = KNOWN_PROVIDERS[provider]
    return Deployment(f"{provider}/{model}", provider, model, spec, base_url, key, headers)


def _req(stream: bool = False) -> ChatRequest:
    body = {"model": "alias", "messages": [{"role": "user", "content": "hi"}], "seed": 1}
    if stream:
        body["stream"] = True
    return openai_chat.parse_request(body)


def test_build_for_openai() -> None:
    up = CODEC.build(_dep("openai", "https://api.openai.com"), _req(), {})
    assert up.url == "https://api.openai.com/v1/chat/completions"
    assert up.headers == {"content-type": "application/json", "authorization": "Bearer sk-key"}
    assert orjson.loads(up.body) == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 1,
    }


def test_build_stream_asks_for_usage() -> None:
    up = CODEC.build(_dep("openai", "https://api.openai.com"), _req(stream=True), {})
    assert orjson.loads(up.body)["stream_options"] == {"include_usage": True}


def test_build_for_azure() -> None:
    dep = _dep("azure_openai", "https://res.openai.azure.com", model="my-gpt4o-deployment")
    up = CODEC.build(dep, _req(), CIMultiDict({"Authorization": "Bearer client"}))
    assert up.url == (
        "https://res.openai.azure.com/openai/deployments/my-gpt4o-deployment/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert up.headers == {"content-type": "application/json", "api-key": "sk-key"}
    assert "authorization" not in up.headers


def test_azure_deployment_name_is_one_encoded_path_segment() -> None:
    dep = _dep("azure_openai", "https://res.openai.azure.com", model="../../admin?x=#")
    up = CODEC.build(dep, _req(), {})
    assert up.url == (
        "https://res.openai.azure.com/openai/deployments/..%2F..%2Fadmin%3Fx%3D%23"
        "/chat/completions?api-version=2025-01-01-preview"
    )


def test_build_for_ollama_has_no_auth() -> None:
    dep = _dep("ollama", "http://127.0.0.1:11434", model="llama3.2", key="unused")
    up = CODEC.build(dep, _req(), {})
    assert up.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert up.headers == {"content-type": "application/json"}
    assert orjson.loads(up.body)["model"] == "llama3.2"


def test_build_for_a_versioned_base_url() -> None:
    up = CODEC.build(_dep("vllm", "http://127.0.0.1:8000/v1", model="qwen"), _req(), {})
    assert up.url == "http://127.0.0.1:8000/v1/chat/completions"


def test_build_for_zhipu_uses_its_v4_path() -> None:
    dep = _dep("zhipu", KNOWN_PROVIDERS["zhipu"].base_url or "", model="glm-4")
    up = CODEC.build(dep, _req(), {})
    assert up.url == "https://open.bigmodel.cn/api/paas/v4/chat/completions"


def test_build_adds_configured_headers_but_auth_is_not_overridden() -> None:
    dep = _dep(
        "openrouter",
        "https://openrouter.ai/api",
        headers=(("HTTP-Referer", "https://plano.dev"), ("authorization", "Bearer wrong")),
    )
    up = CODEC.build(dep, _req(), {})
    assert up.headers["HTTP-Referer"] == "https://plano.dev"
    assert up.headers["authorization"] == "Bearer sk-key"


def test_build_for_a_custom_interface_provider() -> None:
    spec = spec_for("acme", "openai")
    assert spec is not None
    dep = Deployment("acme/m1", "acme", "m1", spec, "http://127.0.0.1:9", "sk-acme")
    up = CODEC.build(dep, _req(), {})
    assert up.url == "http://127.0.0.1:9/v1/chat/completions"
    assert up.headers["authorization"] == "Bearer sk-acme"


def test_build_with_passthrough_auth() -> None:
    dep = Deployment(
        "openai/gpt-4o",
        "openai",
        "gpt-4o",
        KNOWN_PROVIDERS["openai"],
        "https://api.openai.com",
        None,
        passthrough_auth=True,
    )
    up = CODEC.build(dep, _req(), CIMultiDict({"Authorization": "Bearer users-own"}))
    assert up.headers["authorization"] == "Bearer users-own"


def test_decode_error_keeps_status_message_type_code_param_and_retry_after() -> None:
    body = orjson.dumps(
        {
            "error": {
                "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min.",
                "type": "tokens",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    )
    err = CODEC.decode_error(429, body, CIMultiDict({"Retry-After": "20"}))
    assert isinstance(err, UpstreamStatusError)
    assert err.status == 429
    assert err.message.startswith("Rate limit reached for gpt-4o")
    assert err.upstream_type == "tokens"
    assert err.code == "rate_limit_exceeded"
    assert err.param is None
    assert err.retry_after == 20.0
    assert err.is_retryable
    assert openai_chat_answer.error_body(err)["error"]["type"] == "tokens"


def test_decode_error_with_param_and_numeric_code() -> None:
    body = (
        b'{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":400}}'
    )
    err = CODEC.decode_error(400, body, {})
    assert (err.param, err.code, err.retry_after) == ("messages", "400", None)
    assert not err.is_retryable


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b"", b"{}", b"[1]", b'{"error": 5}'],
)
def test_decode_error_of_a_non_openai_body(body: bytes) -> None:
    err = CODEC.decode_error(502, body, {})
    assert err.status == 502
    assert err.message == "The provider answered with HTTP 502."
    assert err.upstream_type is None and err.code is None


def test_decode_error_with_a_string_error() -> None:
    err = CODEC.decode_error(500, b'{"error":"model crashed"}', {})
    assert err.message == "model crashed"


def test_parse_error_body_ignores_wrong_field_types() -> None:
    body = b'{"error":{"message":"m","type":5,"param":["p"],"code":null}}'
    assert parse_error_body(body) == ("m", None, None, None)


def test_decode_response_and_stream_decoder_delegate_to_the_wire_module() -> None:
    body = orjson.loads((FIXTURES / "chat_completion.json").read_bytes())
    resp = CODEC.decode_response(body)
    assert resp.raw is body
    assert resp.choices[0].message.content[0] == TextPart(resp.choices[0].message.text())
    dec = CODEC.stream_decoder()
    assert isinstance(dec, openai_chat_stream.StreamDecoder)
    assert CODEC.stream_decoder() is not dec  # one decoder per stream


def test_build_from_a_canonical_request() -> None:
    req = ChatRequest(model="x", messages=[Message("user", [TextPart("hey")])], shape="other")
    up = CODEC.build(_dep("openai", "https://api.openai.com"), req, {})
    assert orjson.loads(up.body) == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hey"}],
    }
