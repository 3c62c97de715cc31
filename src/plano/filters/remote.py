"""Plano's remote filters (``type: http`` and ``type: mcp``) on a model listener.

As an input filter, one call per request: the whole request body in the client's API goes
out, the reply is the new request (parsed in the client's shape). As an output filter, one
call per non-stream answer (its body), and one per event of a stream, as Plano calls one per
chunk: an ``http`` filter gets the SSE event's text as the client would get it, an ``mcp``
tool its JSON (its ``body`` argument must be JSON); replies are decoded back into canonical
events. Each call is a :class:`RemoteCall`: an ``http`` POST to ``{url}{api path}`` or an
MCP ``tools/call`` (:mod:`plano.filters.mcp`).

A filter's 4xx is its decision and reaches the client: before the answer, as an error in the
client's API shape with the filter's status; in a stream already under way, as the shape's
in-band error event. A failure (unreachable, too slow, 5xx, a broken reply) obeys the
entry's ``on_error``: ``closed`` fails the request (502, 504 on a time-out; an input
filter's unreadable request is a 400, as in Plano), ``open`` lets it pass unfiltered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol

from plano.config.filters import HttpFilterSpec, RemoteFilterSpec
from plano.core.model import ChatResponse, StreamError, StreamEvent
from plano.core.sse import SSEEvent
from plano.filters.bodies import (
    JSON,
    SSE,
    StreamRoundTrip,
    answer_body,
    api_path,
    apply_answer,
    apply_request,
    is_json_object,
    request_body,
    sse_reply,
)
from plano.filters.client import FilterClient, filter_headers
from plano.filters.errors import FilterFailed, FilterRejected, FilterReplyInvalid, error_detail
from plano.pipeline.context import RequestContext
from plano.pipeline.registry import ConfiguredFilter, FilterRole

__all__ = ["HttpCall", "RemoteCall", "RemoteInputFilter", "RemoteOutputFilter"]

log = logging.getLogger("plano.filters")

#: What a failing filter raises (and ``on_error: open`` forgives).
_FAILURES = (FilterFailed, FilterReplyInvalid)


class RemoteCall(Protocol):
    """One call to a remote filter: a body in, the filter's body out."""

    #: Stream events go out as SSE text (an ``http`` filter, as Plano's get raw chunks),
    #: else as the event's JSON (an ``mcp`` tool's ``body`` argument must be JSON).
    stream_as_sse: ClassVar[bool]

    async def call(
        self, body: bytes, path: str, headers: Mapping[str, str], content_type: str = JSON
    ) -> bytes: ...


class HttpCall:
    """``POST {url}{path}``: the url's own path kept, the API path appended (Plano's rule)."""

    stream_as_sse: ClassVar[bool] = True

    def __init__(self, spec: HttpFilterSpec, client: FilterClient) -> None:
        self.spec = spec
        self.client = client

    async def call(
        self, body: bytes, path: str, headers: Mapping[str, str], content_type: str = JSON
    ) -> bytes:
        sent = {**headers, "content-type": content_type, "accept": content_type}
        spec = self.spec
        reply = await self.client.post(spec.id, spec.url + path, body, sent, spec.timeout)
        if 400 <= reply.status < 500:
            raise FilterRejected(spec.id, reply.status, error_detail(reply.body))
        if not 200 <= reply.status < 300:
            raise FilterFailed(spec.id, f"it answered HTTP {reply.status}")
        return reply.body


class _Remote(ConfiguredFilter):
    def __init__(
        self, spec: RemoteFilterSpec, role: FilterRole, remote: RemoteCall, client: FilterClient
    ) -> None:
        super().__init__(spec, role)
        self.remote = remote
        self.client = client
        self.forward_auth = spec.forward_auth
        #: Failures forgiven under ``on_error: open``.
        self.skipped = 0

    async def start(self) -> None:
        self.client.acquire()

    async def close(self) -> None:
        await self.client.release()

    def headers(self, ctx: RequestContext) -> dict[str, str]:
        return filter_headers(ctx, self.name, forward_auth=self.forward_auth)

    def forgive(self, ctx: RequestContext, err: FilterFailed | FilterReplyInvalid) -> None:
        """A failure under ``on_error``: raise it (closed) or note it and go on (open)."""
        if self.fail_closed:
            raise err
        self.skipped += 1
        log.warning("filter %s skipped (on_error: open) in %s: %s", self.name, ctx.request_id, err)


class RemoteInputFilter(_Remote):
    """An input filter: the request body out, the filter's request back."""

    #: The request it makes is parsed from the filter's reply, whose bytes become its raw
    #: body: what it says is exactly what the filter returned, so nothing must re-encode it.
    rewrites_request: ClassVar[bool] = False

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        assert req is not None
        body = request_body(req)
        try:
            reply = await self.remote.call(body, api_path(ctx.shape), self.headers(ctx))
            if reply != body:
                await apply_request(ctx, reply, self.name)
        except _FAILURES as err:
            self.forgive(ctx, err)


class RemoteOutputFilter(_Remote):
    """An output filter: each answer (or each stream event) out, the filter's version back."""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        body = answer_body(ctx, resp)
        try:
            reply = await self.remote.call(body, api_path(ctx.shape), self.headers(ctx))
            if reply != body:
                apply_answer(ctx, resp, reply, self.name)
        except _FAILURES as err:
            self.forgive(ctx, err)

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        if isinstance(ev, StreamError):
            return (ev,)  # the stream failed: nothing for the filter to judge
        trip = ctx.state.get(self.key)
        if not isinstance(trip, StreamRoundTrip):
            trip = ctx.state[self.key] = StreamRoundTrip.start(ctx, self.headers(ctx))
        return await self._through(ctx, trip, trip.render(ev))

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        trip = ctx.state.get(self.key)
        if not isinstance(trip, StreamRoundTrip):
            return ()
        return await self._through(ctx, trip, trip.finish())

    async def _through(
        self, ctx: RequestContext, trip: StreamRoundTrip, sses: list[SSEEvent]
    ) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for sse in sses:
            if trip.bypass or not is_json_object(sse.data):
                out += trip.decode(sse.data, sse.event)
                continue
            replies = await self._event(ctx, trip, sse)
            try:
                got: list[StreamEvent] = []
                for data, event in replies:
                    got += trip.decode(data, event)
            except Exception as exc:  # the filter's event is not one of the client's API
                self.forgive(ctx, FilterFailed(self.name, "its stream event cannot be read"))
                log.debug("undecodable event from filter %s: %r", self.name, exc)
                trip.bypass = True
                got = trip.decode(sse.data, sse.event)
            out += got
        return out

    async def _event(
        self, ctx: RequestContext, trip: StreamRoundTrip, sse: SSEEvent
    ) -> list[tuple[str, str | None]]:
        path = api_path(ctx.shape)
        try:
            if self.remote.stream_as_sse:
                reply = await self.remote.call(sse.raw, path, trip.headers, SSE)
                return sse_reply(reply, sse.event)
            reply = await self.remote.call(sse.data.encode(), path, trip.headers)
        except _FAILURES as err:
            self.forgive(ctx, err)
            trip.bypass = True  # one failure per stream, not one time limit per event
            return [(sse.data, sse.event)]
        return [(reply.decode("utf-8", "replace"), sse.event)]
