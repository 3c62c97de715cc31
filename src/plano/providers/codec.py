"""The narrow contract every upstream family implements (pure: values in, values out).

A codec turns the canonical request into an HTTP request for one deployment, and the
provider's answer (body, error or SSE events) back into canonical values. IO lives in
:mod:`plano.providers.transport`; families are looked up in
:data:`plano.providers.registry.CODECS`, never branched on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from plano.core.model import ChatRequest, ChatResponse, StreamEvent, Usage
from plano.errors import UpstreamStatusError
from plano.providers.deployment import Deployment

__all__ = [
    "Codec",
    "StreamDecoderLike",
    "UpstreamRequest",
    "join_url",
    "path_segment",
    "unchanged_body",
]

_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


class StreamDecoderLike(Protocol):
    #: True once the provider's end-of-stream marker arrived; a stream that ends without it
    #: was cut.
    done: bool

    @property
    def final(self) -> bool:
        """Nothing more will come: the relay may stop reading (an upstream that keeps its side
        open after its terminal event must not hold the answer, nor fail it)."""
        ...

    def feed(self, data: str, event: str | None = None) -> list[StreamEvent]: ...

    def partial_usage(self) -> Usage | None:
        """Usage reported so far (by kind: see ``Usage.has_input``), for a stream that was
        cut or left before its final usage arrived."""
        ...


class Codec(Protocol):
    family: str

    def build(
        self, dep: Deployment, req: ChatRequest, client_headers: Mapping[str, str]
    ) -> UpstreamRequest: ...

    def decode_response(self, body: Any) -> ChatResponse: ...

    def decode_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError: ...

    def stream_decoder(self) -> StreamDecoderLike: ...


def unchanged_body(req: ChatRequest, shape: str, model_id: str) -> bytes | None:
    """The client's own bytes when they are exactly what this upstream must receive: the
    upstream speaks the client's shape, the client named the model by the id the upstream
    knows, and nothing rewrote the request (``raw_body`` is cleared by whoever does)."""
    if req.raw_body is not None and req.shape == shape and req.model == model_id:
        return req.raw_body
    return None


def join_url(base_url: str, default_path: str) -> str:
    """``base_url`` plus the endpoint path. A base that already ends in a version segment
    (``.../v1``, ``.../v4``) keeps it and only gets the endpoint's last part."""
    if _VERSIONED.search(base_url):
        return base_url + "/" + default_path.split("/", 2)[-1]
    return base_url + default_path


def path_segment(value: str) -> str:
    """``value`` percent-encoded as one URL path segment (``/`` included): a model id put into
    a path cannot add segments, a query or a fragment."""
    return quote(value, safe="")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header; dates are ignored."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        # A hostile or broken header must not become nan/inf/negative downstream.
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), 86_400.0)
    return None
