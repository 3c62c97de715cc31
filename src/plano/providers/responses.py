"""The OpenAI Responses API as an upstream family (``POST {base}/v1/responses``), chosen per
deployment with ``provider_interface: openai_responses``. Errors use OpenAI's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from plano.core.model import ChatRequest, ChatResponse
from plano.errors import UpstreamStatusError
from plano.providers.auth import auth_headers
from plano.providers.codec import UpstreamRequest, join_url, unchanged_body
from plano.providers.deployment import Deployment
from plano.providers.openai_compat import OpenAICodec
from plano.wire import openai_responses, openai_responses_answer, openai_responses_stream

__all__ = ["ResponsesCodec"]

_OPENAI = OpenAICodec()


class ResponsesCodec:
    family = "openai_responses"

    def build(
        self, dep: Deployment, req: ChatRequest, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        headers = {"content-type": "application/json", **dict(dep.headers)}
        headers.update(auth_headers(dep, client_headers))
        url = join_url(dep.base_url, dep.spec.responses_path)
        same = unchanged_body(req, openai_responses.SHAPE, dep.model_id)
        if same is not None:
            return UpstreamRequest(url, headers, same)
        body = openai_responses.encode_request(req, dep.model_id)
        return UpstreamRequest(url, headers, orjson.dumps(body))

    def decode_response(self, body: Any) -> ChatResponse:
        return openai_responses_answer.decode_response(body)

    def decode_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError:
        return _OPENAI.decode_error(status, body, headers)

    def stream_decoder(self) -> openai_responses_stream.StreamDecoder:
        return openai_responses_stream.StreamDecoder()
