"""The filter that gives the OpenAI Responses shape its state.

Before routing it replaces ``previous_response_id`` with the stored conversation (so any
upstream family can continue it) and names the answer; after the answer it stores the turn
unless the client sent ``store: false``. Streams are stored once they completed: the events are
assembled as they pass, nothing is buffered for the client.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from plano.core.assemble import StreamAssembler
from plano.core.model import ChatResponse, StreamEvent
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.state.store import ResponseStore, StoredResponse, load_conversation
from plano.wire import openai_responses
from plano.wire.openai_responses_answer import render_response

__all__ = ["ResponsesStateFilter"]

#: Conversations of this many items or more are expanded in a thread.
_BIG_HISTORY = 500


@dataclass(slots=True)
class _Turn:
    state: openai_responses.TurnState
    answer_id: str
    assembler: StreamAssembler


class ResponsesStateFilter(Filter):
    name: ClassVar[str] = "responses_state"
    #: It edits the request only to expand history, and then says so (``expand``).
    rewrites_request: ClassVar[bool] = False

    def __init__(self, store: ResponseStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    @staticmethod
    def _turn(ctx: RequestContext) -> _Turn | None:
        turn = ctx.state.get(ResponsesStateFilter.name)
        return turn if isinstance(turn, _Turn) else None

    @staticmethod
    def _passthrough(ctx: RequestContext) -> bool:
        """Whether the answer reached the client as the upstream's own Responses bytes."""
        dep = ctx.deployment
        return dep is not None and dep.family == openai_responses.SHAPE

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        if ctx.shape != openai_responses.SHAPE or req is None:
            return
        state = openai_responses.turn_state(req)
        if state.previous_response_id is not None:
            history = await load_conversation(self.store, state.previous_response_id)
            if len(history) < _BIG_HISTORY:
                openai_responses.expand(req, history)
            else:  # parsing a long conversation's items is pure Python: off the loop
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, openai_responses.expand, req, history)
        req.answer_id = "resp_" + os.urandom(16).hex()
        ctx.state[self.name] = _Turn(state, req.answer_id, StreamAssembler())

    def recorder(self) -> Filter:
        """The filter that stores non-stream answers: it belongs last in the chain, after every
        filter that may still rewrite the answer, so what is stored is what the client got
        (streams are stored from the events the client got, so their place does not matter)."""
        return _AnswerRecorder(self)

    async def record(self, ctx: RequestContext, resp: ChatResponse) -> None:
        turn = self._turn(ctx)
        if turn is None:
            return
        passthrough = self._passthrough(ctx) and resp.raw is not None
        if not passthrough:
            resp.id = turn.answer_id  # the id the client's rendered answer carries
        if turn.state.store:
            await self._save(ctx, turn, resp, passthrough)

    def on_stream_seen(self, ctx: RequestContext, ev: StreamEvent) -> None:
        turn = self._turn(ctx)
        if turn is not None:
            turn.assembler.feed(ev)

    async def on_complete(self, ctx: RequestContext) -> None:
        turn = self._turn(ctx)
        if turn is None or not ctx.stream or not turn.state.store:
            return
        if ctx.status >= 400 or ctx.client_closed or not turn.assembler.complete:
            return
        resp = turn.assembler.response()
        if not self._passthrough(ctx):
            resp.id = turn.answer_id
        await self._save(ctx, turn, resp, False)

    async def _save(
        self, ctx: RequestContext, turn: _Turn, resp: ChatResponse, passthrough: bool
    ) -> None:
        raw = ctx.request.raw if ctx.request is not None else None
        obj = dict(resp.raw) if passthrough and resp.raw is not None else render_response(resp)
        # Echo what the client asked (a pass-through body saw the expanded request instead).
        obj["previous_response_id"] = turn.state.previous_response_id
        obj["instructions"] = (raw or {}).get("instructions")
        message = resp.choices[0].message if resp.choices else None
        items = list(turn.state.input)
        if message is not None:
            items += openai_responses.input_items(message)
        record = StoredResponse(
            str(obj["id"]), self._clock(), obj, items, turn.state.previous_response_id
        )
        await self.store.put(record)

    async def close(self) -> None:
        await self.store.close()


class _AnswerRecorder(Filter):
    """:meth:`ResponsesStateFilter.record` as a filter of its own, for the end of a chain."""

    name: ClassVar[str] = "responses_state_recorder"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, state: ResponsesStateFilter) -> None:
        self.state = state

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        await self.state.record(ctx, resp)
