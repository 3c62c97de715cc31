"""The Responses state filter on its own: expansion, naming, storing (non-stream and stream)."""

from __future__ import annotations

from typing import Any

import pytest

from plano.core.model import (
    ChatResponse,
    Choice,
    Message,
    StreamEnd,
    StreamError,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
    UsageEvent,
)
from plano.errors import NotFound
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS, resolve_spec
from plano.state import MemoryResponseStore, ResponsesStateFilter, StoredResponse
from plano.wire import openai_chat, openai_responses

ANTHROPIC = Deployment("a", "anthropic", "c", KNOWN_PROVIDERS["anthropic"], "http://x")
RESPONSES = Deployment("o", "openai", "g", resolve_spec("openai", "openai_responses"), "http://x")  # type: ignore[arg-type]


def ctx_for(body: dict[str, Any], dep: Deployment, *, stream: bool = False) -> RequestContext:
    ctx = RequestContext("req_1", openai_responses.SHAPE, {})
    ctx.request = openai_responses.parse_request({**body, "stream": stream})
    ctx.deployment = dep
    return ctx


def answer(rid: str = "msg_up", raw: dict[str, Any] | None = None) -> ChatResponse:
    msg = Message("assistant", [TextPart("Paris is sunny.")])
    return ChatResponse(rid, "m", [Choice(0, msg, "stop")], Usage(5, 3), raw=raw)


@pytest.fixture
def store() -> MemoryResponseStore:
    return MemoryResponseStore()


async def test_other_shapes_are_untouched(store: MemoryResponseStore) -> None:
    f = ResponsesStateFilter(store)
    ctx = RequestContext("r", "openai_chat", {})
    ctx.request = openai_chat.parse_request({"messages": [{"role": "user", "content": "x"}]})
    await f.on_request(ctx)
    assert ctx.request.answer_id is None and not ctx.state


async def test_cross_family_answer_is_named_and_stored(store: MemoryResponseStore) -> None:
    f = ResponsesStateFilter(store)
    ctx = ctx_for({"input": "weather?", "instructions": "brief"}, ANTHROPIC)
    await f.on_request(ctx)
    resp = answer()
    await f.record(ctx, resp)
    assert resp.id == ctx.request.answer_id and resp.id.startswith("resp_")  # type: ignore[union-attr]
    rec = await store.get(resp.id)
    assert rec is not None and rec.response["instructions"] == "brief"
    assert rec.items[0] == {"role": "user", "content": "weather?"}
    assert rec.items[-1]["content"][0]["text"] == "Paris is sunny."


async def test_passthrough_keeps_the_upstream_id(store: MemoryResponseStore) -> None:
    f = ResponsesStateFilter(store)
    ctx = ctx_for({"input": "hi"}, RESPONSES)
    await f.on_request(ctx)
    raw = {"id": "resp_upstream", "object": "response", "output": []}
    resp = answer("resp_upstream", raw)
    await f.record(ctx, resp)
    assert resp.id == "resp_upstream" and await store.get("resp_upstream") is not None


async def test_previous_response_is_expanded(store: MemoryResponseStore) -> None:
    earlier = [{"role": "user", "content": "first"}]
    await store.put(StoredResponse("resp_1", 0, {"id": "resp_1"}, earlier))
    f = ResponsesStateFilter(store)
    ctx = ctx_for({"input": "second", "previous_response_id": "resp_1"}, ANTHROPIC)
    await f.on_request(ctx)
    assert [m.text() for m in ctx.request.messages] == ["first", "second"]  # type: ignore[union-attr]
    missing = ctx_for({"input": "x", "previous_response_id": "resp_gone"}, ANTHROPIC)
    with pytest.raises(NotFound):
        await f.on_request(missing)


async def test_store_false_stores_nothing(store: MemoryResponseStore) -> None:
    f = ResponsesStateFilter(store)
    ctx = ctx_for({"input": "hi", "store": False}, ANTHROPIC)
    await f.on_request(ctx)
    await f.record(ctx, answer())
    assert len(store) == 0


async def test_streams_are_stored_only_when_complete(store: MemoryResponseStore) -> None:
    f = ResponsesStateFilter(store)
    for events, stored in (
        ([StreamStart("x", "m"), TextDelta("hi"), StreamEnd("stop"), UsageEvent(Usage(1, 1))], 1),
        ([StreamStart("y", "m"), TextDelta("hi"), StreamError("cut")], 0),
    ):
        ctx = ctx_for({"input": "hi"}, ANTHROPIC, stream=True)
        await f.on_request(ctx)
        for ev in events:
            f.on_stream_seen(ctx, ev)
        await f.on_complete(ctx)
        rec = await store.get(ctx.request.answer_id or "")  # type: ignore[union-attr]
        assert (rec is not None) == bool(stored)
