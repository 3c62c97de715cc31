"""The Anthropic family: ``POST {base}/v1/messages`` with ``x-api-key`` and
``anthropic-version``. The client's own ``anthropic-version`` and ``anthropic-beta`` headers are
forwarded when it sent them, so beta features a client opts into reach the provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from plano.core.model import ChatRequest, ChatResponse
from plano.errors import UpstreamStatusError
from plano.providers.auth import auth_headers
from plano.providers.codec import (
    UpstreamRequest,
    join_url,
    retry_after,
    unchanged_body,
)
from plano.providers.deployment import Deployment
from plano.wire import anthropic_answer, anthropic_messages, anthropic_stream

__all__ = ["DEFAULT_VERSION", "AnthropicCodec"]

DEFAULT_VERSION = "2023-06-01"
_FORWARDED = ("anthropic-beta",)


class AnthropicCodec:
    family = "anthropic"

    def build(
        self, dep: Deployment, req: ChatRequest, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        headers = {
            "content-type": "application/json",
            "anthropic-version": client_headers.get("anthropic-version") or DEFAULT_VERSION,
        }
        for name in _FORWARDED:
            value = client_headers.get(name)
            if value:
                headers[name] = value
        headers.update(dict(dep.headers))
        headers.update(auth_headers(dep, client_headers))
        url = join_url(dep.base_url, "/v1/messages")
        same = unchanged_body(req, anthropic_messages.SHAPE, dep.model_id)
        if same is not None:
            return UpstreamRequest(url, headers, same)
        body = anthropic_messages.encode_request(req, dep.model_id)
        return UpstreamRequest(url, headers, orjson.dumps(body))

    def decode_response(self, body: Any) -> ChatResponse:
        return anthropic_answer.decode_response(body)

    def decode_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError:
        message, etype = anthropic_answer.parse_error(body)
        return UpstreamStatusError(
            message or f"The provider answered with HTTP {status}.",
            status=status,
            retry_after=retry_after(headers),
            upstream_type=etype,
        )

    def stream_decoder(self) -> anthropic_stream.StreamDecoder:
        return anthropic_stream.StreamDecoder()
