"""Requests and answers as a remote filter sees them: JSON bodies of the client's own API.

Pure: values in, values out. A filter gets what the client sent (or, once something rewrote
the request, the canonical request encoded in the client's shape) and returns a body of the
same API, which is parsed back in the client's shape. Answers go out rendered in the client's
shape (the provider's own body when it speaks that shape and nothing changed it); a stream
goes out one client-shaped SSE event at a time and each reply is decoded back into canonical
events (:class:`StreamRoundTrip`), so what a filter sees is what the client would get.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from plano.core.model import ChatRequest, ChatResponse, StreamEvent
from plano.core.sse import SSEEvent, SSEParser
from plano.errors import PlanoError
from plano.filters.errors import FilterFailed, FilterReplyInvalid
from plano.pipeline.context import RequestContext
from plano.providers.codec import StreamDecoderLike
from plano.providers.registry import CODECS
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.shapes import SHAPES, StreamRenderer

__all__ = [
    "API_PATHS",
    "JSON",
    "SSE",
    "StreamRoundTrip",
    "answer_body",
    "api_path",
    "apply_answer",
    "apply_request",
    "request_body",
    "sse_reply",
]

#: The API path of each client shape: what an ``http`` filter's URL gets appended and an
#: ``mcp`` filter's ``path`` argument says (Plano passes the request's path).
API_PATHS: Mapping[str, str] = MappingProxyType(
    {
        "openai_chat": "/v1/chat/completions",
        "anthropic_messages": "/v1/messages",
        "openai_responses": "/v1/responses",
    }
)


def _openai_chat(req: ChatRequest) -> dict[str, Any]:
    body = openai_chat.encode_request(req, req.model, ask_usage=False)
    if req.stream and req.include_usage:  # the canonical form keeps it as a flag only
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return body


#: Each client shape's request encoder (the client's own body while nothing rewrote it).
_ENCODERS: Mapping[str, Callable[[ChatRequest], dict[str, Any]]] = MappingProxyType(
    {
        "openai_chat": _openai_chat,
        "anthropic_messages": lambda req: anthropic_messages.encode_request(req, req.model),
        "openai_responses": lambda req: openai_responses.encode_request(req, req.model),
    }
)

JSON = "application/json"
SSE = "text/event-stream"

#: Replies from this size on are parsed in a thread (as the gateway parses request bodies).
_BIG = 1024 * 1024


def api_path(shape: str) -> str:
    return API_PATHS[shape]


def request_body(req: ChatRequest) -> bytes:
    """The request in its client's API: the client's own bytes while nothing changed them."""
    if req.raw_body is not None:
        return req.raw_body
    return orjson.dumps(_ENCODERS[req.shape](req))


def _parse_request(shape: str, reply: bytes, filter_id: str) -> ChatRequest:
    try:
        body = orjson.loads(reply)
    except orjson.JSONDecodeError:
        raise FilterReplyInvalid(filter_id, "the reply is not JSON") from None
    try:
        new = SHAPES[shape].parse_request(body)
    except PlanoError as err:
        raise FilterReplyInvalid(filter_id, err.message) from err
    new.raw_body = reply  # the exact bytes ``raw`` came from: a same-API upstream gets them
    return new


async def apply_request(ctx: RequestContext, reply: bytes, filter_id: str) -> None:
    """Make ``ctx.request`` the request ``reply`` holds (parsed in the client's shape). The
    request object stays the same (other filters may hold it); what Plano itself assigned
    (the answer id) is kept. Its raw body is now the filter's reply, so the client's original
    bytes are never sent; a same-API upstream gets the filter's bytes as they are."""
    req = ctx.request
    assert req is not None
    if len(reply) < _BIG:
        new = _parse_request(ctx.shape, reply, filter_id)
    else:
        loop = asyncio.get_running_loop()
        new = await loop.run_in_executor(None, _parse_request, ctx.shape, reply, filter_id)
    new.answer_id = req.answer_id
    for f in dataclasses.fields(ChatRequest):
        setattr(req, f.name, getattr(new, f.name))


def answer_body(ctx: RequestContext, resp: ChatResponse) -> bytes:
    """A non-stream answer as the client would get it."""
    shape = SHAPES[ctx.shape]
    dep = ctx.deployment
    if resp.raw is not None and dep is not None and dep.family == shape.family:
        return orjson.dumps(resp.raw)
    return orjson.dumps(shape.render_response(resp))


def apply_answer(ctx: RequestContext, resp: ChatResponse, reply: bytes, filter_id: str) -> None:
    """Put the content of the filter's answer into ``resp``. Its id, model and usage stay the
    provider's (accounting and stored conversations rely on them)."""
    family = SHAPES[ctx.shape].family
    try:
        new = CODECS[family].decode_response(orjson.loads(reply))
    except orjson.JSONDecodeError:
        raise FilterFailed(filter_id, "its answer is not JSON") from None
    except PlanoError as err:
        raise FilterFailed(filter_id, f"its answer cannot be read: {err.message}") from err
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise FilterFailed(filter_id, "its answer is not one of the client's API") from exc
    resp.choices = new.choices
    resp.changed()


class StreamRoundTrip:
    """One request's stream as an output filter sees it: each canonical event is rendered in
    the client's shape (the SSE events the client would get), each event's JSON goes to the
    filter, and the replies are decoded back into canonical events in order. A decoder is
    stateful, so every event passes through it, the filter's version or the original."""

    __slots__ = ("bypass", "decoder", "headers", "parser", "renderer")

    def __init__(
        self, renderer: StreamRenderer, decoder: StreamDecoderLike, headers: dict[str, str]
    ) -> None:
        self.renderer = renderer
        self.decoder = decoder
        self.parser = SSEParser()
        #: Headers for this request's filter calls (one span for the whole stream).
        self.headers = headers
        #: Set once the filter failed in this stream: the rest passes unfiltered (one time
        #: limit per stream, not one per event).
        self.bypass = False

    @classmethod
    def start(cls, ctx: RequestContext, headers: dict[str, str]) -> StreamRoundTrip:
        req, dep = ctx.request, ctx.deployment
        assert req is not None and dep is not None
        shape = SHAPES[ctx.shape]
        renderer = shape.stream_renderer(dep.model_id, req)
        return cls(renderer, CODECS[shape.family].stream_decoder(), headers)

    def render(self, ev: StreamEvent) -> list[SSEEvent]:
        return self.parser.feed(self.renderer.render(ev))

    def finish(self) -> list[SSEEvent]:
        """The events the client's shape sends after the last one (Anthropic's
        ``message_delta``/``message_stop``, the Responses API's ``response.completed``)."""
        return self.parser.feed(self.renderer.done()) + self.parser.flush()

    def decode(self, data: str, event: str | None) -> list[StreamEvent]:
        return self.decoder.feed(data, event)


def sse_reply(reply: bytes, event: str | None) -> list[tuple[str, str | None]]:
    """An ``http`` output filter's reply to one stream event, as ``(data, event name)``
    pairs: SSE text (what Plano's filters return: the chunk, rewritten), or the event's JSON
    alone. An empty reply drops the event."""
    if reply.lstrip().startswith(b"{"):
        return [(reply.decode("utf-8", "replace"), event)]
    parser = SSEParser()
    return [(e.data, e.event or event) for e in parser.feed(reply) + parser.flush() if e.data]


def is_json_object(data: str) -> bool:
    """Whether an SSE event's data is a JSON object (``[DONE]`` and pings are not sent)."""
    return data.startswith("{")
