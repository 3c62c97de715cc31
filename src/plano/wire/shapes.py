"""Client wire shapes, keyed by name: how a shape parses requests and renders answers.

The server routes each endpoint to one shape; translation code never branches on shape names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from plano.core.model import ChatRequest, ChatResponse, StreamEvent
from plano.errors import PlanoError
from plano.wire import (
    anthropic_answer,
    anthropic_messages,
    anthropic_stream,
    openai_chat,
    openai_chat_answer,
    openai_chat_stream,
    openai_responses,
    openai_responses_answer,
    openai_responses_stream,
)

__all__ = ["ROUTES", "SHAPES", "ClientShape", "StreamRenderer", "shape_for_path"]


class StreamRenderer(Protocol):
    def render(self, ev: StreamEvent) -> bytes: ...
    def done(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ClientShape:
    name: str
    #: The upstream family that speaks this shape natively: same family means pass-through.
    family: str
    parse_request: Callable[[Any], ChatRequest]
    render_response: Callable[[ChatResponse], dict[str, Any]]
    error_body: Callable[[PlanoError], dict[str, Any]]
    #: ``(model, request) -> renderer`` for answers that come from another family.
    stream_renderer: Callable[[str, ChatRequest], StreamRenderer]
    #: In-band error event for a stream that already started.
    stream_error: Callable[[PlanoError], bytes]
    #: Whether a pass-through SSE event that only carries usage must be dropped because the
    #: client did not ask for usage (and Plano did).
    drop_usage_only: Callable[[ChatRequest], bool]


def _openai_renderer(model: str, req: ChatRequest) -> StreamRenderer:
    return openai_chat_stream.ChunkRenderer(model, include_usage=req.include_usage)


def _anthropic_renderer(model: str, req: ChatRequest) -> StreamRenderer:
    return anthropic_stream.EventRenderer(model)


def _responses_renderer(model: str, req: ChatRequest) -> StreamRenderer:
    return openai_responses_stream.EventRenderer(model, answer_id=req.answer_id)


def _never(_req: ChatRequest) -> bool:
    return False


SHAPES: dict[str, ClientShape] = {
    "openai_chat": ClientShape(
        name="openai_chat",
        family="openai",
        parse_request=openai_chat.parse_request,
        render_response=openai_chat_answer.render_response,
        error_body=openai_chat_answer.error_body,
        stream_renderer=_openai_renderer,
        stream_error=lambda e: openai_chat_stream.stream_error(e.message, e.error_type),
        drop_usage_only=lambda req: not req.include_usage,
    ),
    "anthropic_messages": ClientShape(
        name="anthropic_messages",
        family="anthropic",
        parse_request=anthropic_messages.parse_request,
        render_response=anthropic_answer.render_response,
        error_body=anthropic_answer.error_body,
        stream_renderer=_anthropic_renderer,
        stream_error=anthropic_stream.stream_error,
        drop_usage_only=_never,
    ),
    "openai_responses": ClientShape(
        name="openai_responses",
        family="openai_responses",
        parse_request=openai_responses.parse_request,
        render_response=openai_responses_answer.render_response,
        error_body=openai_responses_answer.error_body,
        stream_renderer=_responses_renderer,
        stream_error=openai_responses_stream.stream_error,
        drop_usage_only=_never,
    ),
}


#: Model-listener endpoints and the client shape each one speaks. The server mounts these;
#: adding a shape is a row here.
ROUTES: list[tuple[str, str]] = [
    ("/v1/chat/completions", "openai_chat"),
    ("/chat/completions", "openai_chat"),
    ("/v1/messages", "anthropic_messages"),
    ("/v1/responses", "openai_responses"),
    ("/responses", "openai_responses"),
]


def shape_for_path(path: str) -> ClientShape:
    """The shape whose errors a client of ``path`` understands (for answers given before or
    instead of the endpoint's own handler: 404, 405, refused hosts, malformed bodies)."""
    if path.startswith("/v1/messages"):
        return SHAPES["anthropic_messages"]
    if path.startswith(("/v1/responses", "/responses")):
        return SHAPES["openai_responses"]
    return SHAPES["openai_chat"]
