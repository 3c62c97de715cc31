"""The Gemini family: ``POST {base}/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` with ``x-goog-api-key``."""

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
    path_segment,
    retry_after,
)
from plano.providers.deployment import Deployment
from plano.wire import gemini, gemini_stream

__all__ = ["GeminiCodec"]

#: OpenAI-style error types for Google's HTTP statuses (also valid Anthropic error types),
#: so clients of either shape see a familiar ``type``.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class GeminiCodec:
    family = "gemini"

    def build(
        self, dep: Deployment, req: ChatRequest, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        # ``models/`` is the one legitimate slash: it is the path's own. The rest is one segment.
        model = dep.model_id.removeprefix("models/")
        action = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        url = join_url(dep.base_url, f"/v1beta/models/{path_segment(model)}:{action}")
        body = gemini.encode_request(req, model)
        headers = {"content-type": "application/json", **dict(dep.headers)}
        headers.update(auth_headers(dep, client_headers))
        return UpstreamRequest(url, headers, orjson.dumps(body))

    def decode_response(self, body: Any) -> ChatResponse:
        return gemini.decode_response(body)

    def decode_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError:
        message, status_name, delay = gemini.parse_error(body)
        return UpstreamStatusError(
            message or f"The provider answered with HTTP {status}.",
            status=status,
            code=status_name,
            retry_after=retry_after(headers) or delay,
            upstream_type=_TYPES.get(status),
        )

    def stream_decoder(self) -> gemini_stream.StreamDecoder:
        return gemini_stream.StreamDecoder()
