"""Calling the upstream and relaying its answer to the client: the IO edge of the request path.

Non-stream answers from the client's own family are forwarded as the provider's bytes (parsed
once for usage); other families are rendered from the canonical response. Streams are relayed
event by event as they arrive; nothing buffers a whole answer. A stream that breaks after the
first byte ends with an explicit error event in the client's shape, never a clean-looking end.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from plano.core.model import (
    ChatResponse,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageEvent,
)
from plano.core.sse import SSEParser
from plano.errors import PlanoError, UpstreamProtocolError, UpstreamStatusError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import FilterChain
from plano.providers.codec import Codec, UpstreamRequest
from plano.providers.transport import UpstreamPool, map_client_error
from plano.wire.shapes import ClientShape

__all__ = ["answer_headers", "call_once", "fail_stream", "relay_stream"]

_SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def answer_headers(ctx: RequestContext, model: str | None = None) -> dict[str, str]:
    dep = ctx.deployment
    h = {"x-request-id": ctx.request_id, "x-plano-overhead-ms": f"{ctx.overhead_ms():.3f}"}
    if dep is not None:
        h["x-plano-provider"] = dep.provider
        h["x-plano-model"] = model or dep.model_id
        # Failed attempts so far plus the one answering now.
        h["x-plano-attempts"] = str(len(ctx.attempts) + 1)
    return h


async def _error_from(
    codec: Codec, resp: aiohttp.ClientResponse, pool: UpstreamPool, provider: str
) -> UpstreamStatusError:
    body = await pool.read(resp, provider)
    return codec.decode_error(resp.status, body, resp.headers)


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
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(
            f"The provider '{dep.provider}' returned invalid JSON."
        ) from exc
    answer: ChatResponse = codec.decode_response(data)
    ctx.usage = answer.usage
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


def _observe(ctx: RequestContext, chain: FilterChain, events: list[StreamEvent]) -> bool:
    """Account for a batch of events; True when the batch carried nothing but usage."""
    usage_only = bool(events)
    for ev in events:
        if isinstance(ev, UsageEvent):
            ctx.usage = ev.usage
            continue
        usage_only = False
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
        chain.on_stream_event(ctx, ev)
    return usage_only


async def relay_stream(
    ctx: RequestContext,
    request: web.Request,
    pool: UpstreamPool,
    codec: Codec,
    ureq: UpstreamRequest,
    shape: ClientShape,
    chain: FilterChain,
) -> web.StreamResponse:
    """A streaming call. Errors before the first byte raise (so fallback can act and the
    client gets a proper status); errors after it become an in-band error event."""
    dep = ctx.deployment
    req = ctx.request
    assert dep is not None and req is not None
    same = shape.family == dep.family
    drop_usage = same and shape.drop_usage_only(req)
    ctx.upstream_start_ns = time.perf_counter_ns()
    async with pool.open(ureq, dep.provider) as uresp:
        ctx.upstream_headers_ns = time.perf_counter_ns()
        if uresp.status >= 400:
            raise await _error_from(codec, uresp, pool, dep.provider)
        out = web.StreamResponse(status=200, headers={**_SSE_HEADERS, **answer_headers(ctx)})
        await out.prepare(request)
        ctx.state["stream"] = out
        parser = SSEParser()
        decoder = codec.stream_decoder()
        renderer = None if same else shape.stream_renderer(dep.model_id, req)
        try:
            async for chunk in uresp.content.iter_any():
                batch: list[bytes] = []
                for sse in parser.feed(chunk):
                    events = decoder.feed(sse.data, sse.event)
                    usage_only = _observe(ctx, chain, events)
                    if renderer is None:
                        if not (drop_usage and usage_only):
                            batch.append(sse.raw)
                    else:
                        batch.extend(renderer.render(ev) for ev in events)
                if batch:
                    await out.write(b"".join(batch))
            for sse in parser.flush():
                _observe(ctx, chain, decoder.feed(sse.data, sse.event))
            if not decoder.done:
                raise UpstreamProtocolError(
                    f"The provider '{dep.provider}' ended the stream before it was complete."
                )
            if renderer is not None:
                await out.write(renderer.done())
        except PlanoError as err:
            await fail_stream(ctx, out, shape, err)
        except (TimeoutError, aiohttp.ClientError) as exc:
            await fail_stream(ctx, out, shape, map_client_error(exc, dep.provider))
        except ConnectionResetError:
            # The client went away mid-stream: a logged, accounted event, not a traceback.
            ctx.client_closed = True
            ctx.status = 499
        except asyncio.CancelledError:
            ctx.client_closed = True
            ctx.status = 499
            raise
    ctx.upstream_end_ns = ctx.end_ns = time.perf_counter_ns()
    return out


async def fail_stream(
    ctx: RequestContext, out: web.StreamResponse, shape: ClientShape, err: PlanoError
) -> None:
    ctx.status = err.status
    ctx.error = err
    try:
        await out.write(shape.stream_error(err))
    except ConnectionResetError:
        ctx.client_closed = True
