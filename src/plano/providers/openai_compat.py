"""The OpenAI-compatible family: openai, azure_openai, groq, mistral, deepseek, xai, together_ai,
openrouter, moonshotai, ollama, vllm and any ``base_url`` with ``provider_interface: openai``.
One codec; the differences between them are rows in :mod:`plano.providers.table`."""

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
    unchanged_body,
)
from plano.providers.deployment import Deployment
from plano.wire import openai_chat, openai_chat_answer, openai_chat_stream

__all__ = ["OpenAICodec", "parse_error_body"]


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from an OpenAI-style error body, if it is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None, None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        return (
            str(err.get("message") or "") or None,
            err.get("type") if isinstance(err.get("type"), str) else None,
            str(code) if code is not None else None,
            err.get("param") if isinstance(err.get("param"), str) else None,
        )
    if isinstance(err, str):
        return err, None, None, None
    return None, None, None, None


class OpenAICodec:
    family = "openai"

    def build(
        self, dep: Deployment, req: ChatRequest, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        spec = dep.spec
        # Azure's deployment name is one path segment; no slash in it is legitimate.
        path = spec.chat_path.replace("{model}", path_segment(dep.model_id))
        url = join_url(dep.base_url, path)
        if spec.query:
            url += "?" + spec.query
        headers = {"content-type": "application/json", **dict(dep.headers)}
        headers.update(auth_headers(dep, client_headers))
        ask_usage = spec.stream_usage_option
        if not (req.stream and ask_usage and not req.include_usage):  # no usage to ask for
            same = unchanged_body(req, openai_chat.SHAPE, dep.model_id)
            if same is not None:
                return UpstreamRequest(url, headers, same)
        body = openai_chat.encode_request(req, dep.model_id, ask_usage=ask_usage)
        if req.shape != openai_chat.SHAPE and "max_tokens" in body:
            # A translated request: name the limit the way this provider wants it.
            body[spec.max_tokens_param] = body.pop("max_tokens")
        return UpstreamRequest(url, headers, orjson.dumps(body))

    def decode_response(self, body: Any) -> ChatResponse:
        return openai_chat_answer.decode_response(body)

    def decode_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError:
        message, etype, code, param = parse_error_body(body)
        if message is None:
            message = f"The provider answered with HTTP {status}."
        return UpstreamStatusError(
            message,
            status=status,
            code=code,
            param=param,
            retry_after=retry_after(headers),
            upstream_type=etype,
        )

    def stream_decoder(self) -> openai_chat_stream.StreamDecoder:
        return openai_chat_stream.StreamDecoder()
