"""Calling the upstream and relaying its answer to the client: the IO edge of the request path.

Non-stream answers from the client's own family are forwarded as the provider's bytes (parsed
once for usage); other families are rendered from the canonical response. Streams are relayed
event by event as they arrive; nothing buffers a whole answer. A stream that breaks after the
first byte ends with an explicit error event in the client's shape, never a clean-looking end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano.core.model import (
    ChatResponse,
    Message,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    UsageEvent,
)
from plano.core.sse import SSEEvent, SSEParser
from plano.errors import (
    PlanoError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    detached,
)
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import FilterChain
from plano.providers.codec import Codec, UpstreamRequest
from plano.providers.transport import MAX_ERROR_TEXT, UpstreamPool, map_client_error
from plano.wire.shapes import ClientShape, StreamRenderer

__all__ = [
    "Exchange",
    "StreamLimits",
    "answer_headers",
    "call_once",
    "fail_stream",
    "relay_stream",
]

_SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def answer_headers(ctx: RequestContext, model: str | None = None) -> dict[str, str]:
    dep = ctx.deployment
    h = {
        "x-request-id": ctx.forward_id,  # the client's, when it sent one
        "x-plano-request-id": ctx.request_id,  # ours: /plano/v1/requests/{id}
        "x-plano-overhead-ms": f"{ctx.overhead_ms():.3f}",
    }
    if dep is not None:
        h["x-plano-provider"] = dep.provider
        # The answer's model name comes from the provider: echo it only when it is a sane
        # header value (a CR/LF would split the response).
        h["x-plano-model"] = model if model and _header_safe(model) else dep.model_id
        h["x-plano-deployment"] = dep.key
        # Failed attempts so far plus the one answering now (all of them on an error).
        h["x-plano-attempts"] = str(len(ctx.attempts) + (0 if ctx.error else 1))
    if ctx.route is not None:
        h["x-plano-route"] = ctx.route
    if ctx.response_headers:
        h = {**ctx.response_headers, **h}
    return h


def _header_safe(value: str) -> bool:
    return len(value) <= 256 and value.isascii() and value.isprintable()


async def _error_from(
    codec: Codec, resp: aiohttp.ClientResponse, pool: UpstreamPool, provider: str
) -> UpstreamStatusError:
    return await pool.read_error(codec, resp, provider)  # decoded and scrubbed of secrets


async def call_once(
    ctx: RequestContext,
    pool: UpstreamPool,
    codec: Codec,
    ureq: UpstreamRequest,
    shape: ClientShape,
    chain: FilterChain,
) -> web.Response:
    """A non-stream call: one upstream request, one answer."""
    dep = ctx.deployment
    assert dep is not None
    ctx.upstream_start_ns = time.perf_counter_ns()
    async with pool.open(ureq, dep.provider) as resp:
        ctx.upstream_headers_ns = time.perf_counter_ns()
        if resp.status >= 400:
            raise await _error_from(codec, resp, pool, dep.provider)
        body = await pool.read(resp, dep.provider)
    ctx.upstream_end_ns = time.perf_counter_ns()
    if len(body) < BIG_ANSWER:
        data, answer = _decode(codec, body, dep.provider)
    else:  # a many-MB answer: decoded off the event loop
        loop = asyncio.get_running_loop()
        data, answer = await loop.run_in_executor(None, _decode, codec, body, dep.provider)
    ctx.usage = answer.usage
    if answer.usage is None or not answer.usage.has_output:
        # The provider reported none: accounting counts this answer, tool calls and
        # thinking included (a tool-call-only answer is not free).
        for c in answer.choices:
            ctx.output_text.extend(_answer_texts(c.message))
    await chain.on_response(ctx, answer)
    # A filter that rewrites the answer clears ``raw``; then it is rendered anew.
    if shape.family == dep.family and answer.raw is data:
        out = body
    else:
        out = orjson.dumps(shape.render_response(answer))
    ctx.end_ns = time.perf_counter_ns()
    headers = answer_headers(ctx, answer.model or None)
    headers["content-type"] = "application/json"
    return web.Response(body=out, headers=headers)


#: Answers from this size on are decoded in a thread.
BIG_ANSWER = 1024 * 1024


def _decode(codec: Codec, body: bytes, provider: str) -> tuple[Any, ChatResponse]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"The provider '{provider}' returned invalid JSON.") from exc
    return data, codec.decode_response(data)


def _answer_texts(m: Message) -> list[str]:
    texts = [p.text for p in m.content if isinstance(p, TextPart | ThinkingPart)]
    for c in m.tool_calls:
        texts += (c.name, c.arguments)
    return texts


#: What :func:`_observe` saw in a batch of events.
_PLAIN, _USAGE_ONLY, _FAILED = 0, 1, 2


def _observe(ctx: RequestContext, events: list[StreamEvent], scrub: Callable[[str], str]) -> int:
    """Account for a batch of events: ``_USAGE_ONLY`` when it carried nothing but usage,
    ``_FAILED`` when it held the provider's in-band error (its message scrubbed of secrets)."""
    seen = _USAGE_ONLY if events else _PLAIN
    for ev in events:
        if isinstance(ev, UsageEvent):
            ctx.usage = ev.usage
            continue
        if seen == _USAGE_ONLY:
            seen = _PLAIN
        if isinstance(ev, TextDelta):
            ctx.output_text.append(ev.text)
            if not ctx.first_token_ns:
                ctx.first_token_ns = time.perf_counter_ns()
        elif isinstance(ev, ToolCallDelta | ThinkingDelta):
            ctx.output_text.append(ev.arguments if isinstance(ev, ToolCallDelta) else ev.text)
            if not ctx.first_token_ns:
                ctx.first_token_ns = time.perf_counter_ns()
        elif isinstance(ev, StreamError):
            ctx.status = ev.status
            ev.message = scrub(ev.message[:MAX_ERROR_TEXT])
            seen = _FAILED
    return seen


@dataclass(slots=True)
class Exchange:
    """The HTTP side of one client request: the aiohttp request, and the streamed response
    once the relay started it (an error after that is reported in-band, on it)."""

    request: web.Request
    response: web.StreamResponse | None = None
    #: The renderer of a rendered stream (it closes open blocks before an error event).
    renderer: StreamRenderer | None = None


@dataclass(frozen=True, slots=True)
class StreamLimits:
    #: From the upstream call to its first token; past it the attempt fails (and may fail over).
    first_token: float | None = None
    #: Longest gap between two upstream chunks once the answer streams.
    idle: float | None = None


#: Events that do not commit the answer: with only these, another deployment may still answer.
_PRELUDE = (StreamStart, UsageEvent)
#: Held events past which the answer is committed anyway (an upstream that sends nothing but
#: preludes must not grow the buffer).
_MAX_HELD = 64


class _ClientGone(Exception):
    """A write to the client failed: it left. Kept apart from the upstream's socket errors
    (aiohttp raises ConnectionResetError subclasses for both), which do fail a deployment."""


class _StreamRelay:
    """Relays one upstream stream. Events are held until the first real one (text, tool call,
    thinking, end) arrives; only then are the response headers sent, so an upstream that sends
    200 and then stalls or dies costs nothing but a fail-over."""

    __slots__ = (
        "chain",
        "codec",
        "ctx",
        "decoder",
        "dep",
        "drop_usage",
        "exchange",
        "held",
        "out",
        "parser",
        "renderer",
        "scrub",
        "shape",
        "transform",
    )

    def __init__(
        self,
        ctx: RequestContext,
        exchange: Exchange,
        codec: Codec,
        shape: ClientShape,
        chain: FilterChain,
        scrub: Callable[[str], str],
    ) -> None:
        dep, req = ctx.deployment, ctx.request
        assert dep is not None and req is not None
        #: Stream filters may change events: then the client gets canonical events rendered
        #: in its shape, never the provider's bytes.
        self.transform = chain.filters_streams
        same = shape.family == dep.family and not self.transform
        self.ctx, self.exchange, self.shape, self.chain, self.dep = ctx, exchange, shape, chain, dep
        self.codec = codec
        self.scrub = scrub
        self.drop_usage = same and shape.drop_usage_only(req)
        self.parser = SSEParser()
        self.decoder = codec.stream_decoder()
        self.renderer = None if same else shape.stream_renderer(dep.model_id, req)
        self.held: list[tuple[bytes, list[StreamEvent]]] = []
        self.out: web.StreamResponse | None = None

    async def run(
        self, uresp: aiohttp.ClientResponse, timer: asyncio.Timeout, idle: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        async for chunk in uresp.content.iter_any():
            if self.out is not None and idle is not None:
                timer.reschedule(loop.time() + idle)
            committed = self.out is not None
            await self._feed(self.parser.feed(chunk))
            if not committed and self.out is not None:
                timer.reschedule(None if idle is None else loop.time() + idle)
            if self.decoder.final:
                break  # the terminal event is in: no need to wait for the upstream to close
        await self._feed(self.parser.flush())
        if not self.decoder.done:
            raise UpstreamProtocolError(
                f"The provider '{self.dep.provider}' ended the stream before it was complete."
            )
        tail: list[bytes] = []
        if self.out is None:
            await self._commit(tail)  # a complete answer with no content events (rare)
        if self.transform:  # what the stream filters still hold
            released = await self.chain.stream_end(self.ctx)
            self._render(released, tail)
        if self.renderer is not None:
            tail.append(self.renderer.done())
        assert self.out is not None
        if tail:
            await self._send(b"".join(tail))
        self.ctx.answered = True

    async def _feed(self, sses: list[SSEEvent]) -> None:
        """Decode, hold or relay one read's events. Events before a broken one still reach
        the client (they are written before the error propagates)."""
        batch: list[bytes] = []
        try:
            for sse in sses:
                events = self._decode(sse)
                if self.out is not None:
                    if self.transform:
                        await self._emit_transformed(events, batch)
                    else:
                        self._emit(sse.raw, events, batch)
                    continue
                self._hold(sse.raw, events)
                if self._ready(events):
                    await self._commit(batch)
        except PlanoError:
            if batch and self.out is not None:
                await self._send(b"".join(batch))
            raise
        if batch and self.out is not None:
            await self._send(b"".join(batch))
            if self.renderer is None and self.decoder.done:
                # The provider's own terminal event is out: the answer is whole even if the
                # upstream is slow to close its side and the client leaves first.
                self.ctx.answered = True

    def _decode(self, sse: SSEEvent) -> list[StreamEvent]:
        if not sse.valid:
            # Relayed as is, it would break a ``charset=utf-8`` stream; non-stream answers
            # with the same bytes are a 502 too.
            raise UpstreamProtocolError(
                f"The provider '{self.dep.provider}' sent a stream event that is not valid UTF-8."
            )
        try:
            return self.decoder.feed(sse.data, sse.event)
        except PlanoError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # A chunk of the right JSON but the wrong shape: the provider's fault, not ours.
            raise UpstreamProtocolError(
                f"The provider '{self.dep.provider}' sent a malformed stream chunk."
            ) from exc

    def _hold(self, raw: bytes, events: list[StreamEvent]) -> None:
        for ev in events:
            if isinstance(ev, StreamError):  # failed before anything was sent: fail over
                message = self.scrub(ev.message[:MAX_ERROR_TEXT])
                raise UpstreamStatusError(message, status=ev.status)
        self.held.append((raw, events))

    def _ready(self, events: list[StreamEvent]) -> bool:
        return len(self.held) >= _MAX_HELD or any(not isinstance(e, _PRELUDE) for e in events)

    async def _commit(self, batch: list[bytes]) -> None:
        out = web.StreamResponse(status=200, headers={**_SSE_HEADERS, **answer_headers(self.ctx)})
        try:
            await out.prepare(self.exchange.request)
        except ConnectionResetError as exc:
            raise _ClientGone from exc
        self.out = self.exchange.response = out
        self.exchange.renderer = self.renderer
        self.ctx.committed = True
        held, self.held = self.held, []
        for raw, events in held:
            if self.transform:
                await self._emit_transformed(events, batch)
            else:
                self._emit(raw, events, batch)

    async def _send(self, data: bytes) -> None:
        assert self.out is not None
        try:
            await self.out.write(data)
        except ConnectionResetError as exc:  # aiohttp's writes say so when the client left
            raise _ClientGone from exc

    async def _emit_transformed(self, events: list[StreamEvent], batch: list[bytes]) -> None:
        _observe(self.ctx, events, self.scrub)  # billing sees what the provider sent
        self._render(await self.chain.stream_events(self.ctx, events), batch)

    def _render(self, events: list[StreamEvent], batch: list[bytes]) -> None:
        assert self.renderer is not None
        self.chain.stream_seen(self.ctx, events)
        batch.extend(self.renderer.render(ev) for ev in events)

    def _emit(self, raw: bytes, events: list[StreamEvent], batch: list[bytes]) -> None:
        seen = _observe(self.ctx, events, self.scrub)
        self.chain.stream_seen(self.ctx, events)
        if self.renderer is not None:
            batch.extend(self.renderer.render(ev) for ev in events)
        elif seen == _FAILED:
            # The provider's own error event may echo a key: send the scrubbed one instead.
            failure = next(e for e in events if isinstance(e, StreamError))
            err = UpstreamStatusError(failure.message, status=failure.status)
            err.upstream_type = failure.error_type
            batch.append(self.shape.stream_error(err))
        elif not (self.drop_usage and seen == _USAGE_ONLY):
            batch.append(raw)


async def relay_stream(
    ctx: RequestContext,
    exchange: Exchange,
    pool: UpstreamPool,
    codec: Codec,
    ureq: UpstreamRequest,
    shape: ClientShape,
    chain: FilterChain,
    limits: StreamLimits | None = None,
) -> web.StreamResponse:
    """A streaming call. Errors before the first token raise (so fallback can act and the
    client gets a proper status); errors after it become an in-band error event."""
    limits = limits or StreamLimits()
    dep = ctx.deployment
    assert dep is not None
    relay = _StreamRelay(ctx, exchange, codec, shape, chain, pool.scrubber.scrub)
    loop = asyncio.get_running_loop()
    ctx.upstream_start_ns = time.perf_counter_ns()
    first = None if limits.first_token is None else loop.time() + limits.first_token
    try:
        async with asyncio.timeout_at(first) as timer, pool.open(ureq, dep.provider) as uresp:
            ctx.upstream_headers_ns = time.perf_counter_ns()
            if uresp.status >= 400:
                raise await _error_from(codec, uresp, pool, dep.provider)
            await relay.run(uresp, timer, limits.idle)
    except TimeoutError:
        waited = "its first token" if relay.out is None else "the next chunk"
        await _failed(
            relay, UpstreamTimeout(f"The provider '{dep.provider}' was too slow to send {waited}.")
        )
    except PlanoError as err:
        await _failed(relay, err)
    except _ClientGone as exc:
        # The client went away: a logged, accounted event, not a traceback, and never a
        # failure of the deployment (it must not feed its circuit breaker).
        if not ctx.answered:
            ctx.client_closed = True
            ctx.status = 499
        ctx.upstream_end_ns = ctx.end_ns = time.perf_counter_ns()
        if relay.out is None:
            raise asyncio.CancelledError from exc  # nothing to answer: as if cancelled
    except (aiohttp.ClientError, ConnectionResetError) as exc:  # the upstream's socket
        await _failed(relay, map_client_error(exc, dep.provider))
    except asyncio.CancelledError:
        if not ctx.answered:
            ctx.client_closed = True
            ctx.status = 499
        ctx.upstream_end_ns = ctx.end_ns = time.perf_counter_ns()
        raise
    finally:
        _keep_partial_usage(ctx, relay)
    ctx.upstream_end_ns = ctx.end_ns = time.perf_counter_ns()
    assert relay.out is not None
    return relay.out


def _keep_partial_usage(ctx: RequestContext, relay: _StreamRelay) -> None:
    """A stream of the answering attempt that ended without its final usage keeps what the
    provider did report (Anthropic's input and cache tokens, Gemini's running totals);
    accounting then counts only what is missing. Attempts that failed over report nothing."""
    if relay.out is not None and (ctx.usage is None or not ctx.usage.complete):
        got = relay.decoder.partial_usage()
        if got is not None and (ctx.usage is None or got.complete):
            ctx.usage = got


async def _failed(relay: _StreamRelay, err: PlanoError) -> None:
    """Before the first byte: raise (fallback may act). After: the in-band error event;
    nothing once the whole answer is out (a late failure cannot spoil a complete answer)."""
    if relay.out is None:
        raise err
    if relay.ctx.answered:
        return
    await fail_stream(relay.ctx, relay.out, relay.shape, err, relay.renderer)


async def fail_stream(
    ctx: RequestContext,
    out: web.StreamResponse,
    shape: ClientShape,
    err: PlanoError,
    renderer: StreamRenderer | None = None,
) -> None:
    """End a started stream with the client shape's in-band error. A renderer (answers from
    another family) renders it from its own state, so open blocks/items are closed first."""
    if ctx.answered:
        return  # the answer is whole: nothing may follow its terminal event
    ctx.status = err.status
    ctx.error = detached(err)
    if renderer is not None:
        data = renderer.render(StreamError(err.message, err.status, err.error_type))
    else:
        data = shape.stream_error(err)
    try:
        await out.write(data)
    except ConnectionResetError:
        ctx.client_closed = True
