"""What the tests of the in-gateway redaction filters (``regex_redact``, ``pii``) share: a
request and an answer to filter, the chain of one entry, a stream passed through it, and a
config-built gateway with one entry in front of the simulated providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from tests.filters.standins import gateway_config, start_gateway

from plano.config.filters import FilterSpecBase
from plano.core.model import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
)
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter, FilterChain
from plano.pipeline.registry import Built, FilterRole
from plano.sim import SimServer


def request(*texts: str, calls: Sequence[ToolCall] = ()) -> ChatRequest:
    msgs = [Message("user", [TextPart(t)]) for t in texts]
    msgs.append(Message("assistant", tool_calls=list(calls)))
    return ChatRequest(model="m", messages=msgs, raw={"model": "m"}, raw_body=b"{}")


def context(req: ChatRequest) -> RequestContext:
    return RequestContext("req_1", "openai_chat", {}, request=req)


def entry_chain(
    factory: Callable[[Any, FilterRole], Built], spec: FilterSpecBase, role: FilterRole
) -> FilterChain:
    """The chain of one entry in one role: its filter, then its undo (restore)."""
    built = factory(spec, role)
    filters: list[Filter] = [built.filter]
    if built.unwind is not None:
        filters.append(built.unwind)
    return FilterChain(filters)


def answer(text: str, args: str | None = None) -> ChatResponse:
    calls = [ToolCall("c1", "send", args)] if args is not None else []
    msg = Message("assistant", [TextPart(text)], tool_calls=calls)
    return ChatResponse("r1", "m", [Choice(0, msg, "stop")], raw={"id": "r1"})


async def through(c: FilterChain, ctx: RequestContext, events: list[StreamEvent]) -> list[Any]:
    out: list[StreamEvent] = []
    for ev in events:
        out += await c.stream_events(ctx, [ev])
    return out + await c.stream_end(ctx)


def joined(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@asynccontextmanager
async def gateway_with_entry(
    entry: dict[str, Any], role: str
) -> AsyncIterator[tuple[SimServer, str]]:
    """The simulated providers and a gateway whose listener runs ``entry`` as an ``role``
    filter; yields (simulator, gateway URL)."""
    async with SimServer() as sim:
        runner: web.AppRunner
        runner, url = await start_gateway(
            gateway_config(sim.url, [entry], **{f"{role}_filters": [entry["id"]]})
        )
        try:
            yield sim, url
        finally:
            await runner.cleanup()
