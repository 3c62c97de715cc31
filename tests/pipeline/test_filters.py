"""FilterChain: per-hook dispatch, isolation, fail-closed, on_complete off the request task."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import pytest

from plano.core.model import ChatResponse, StreamEvent, TextDelta
from plano.errors import PermissionDenied, PlanoError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter, FilterChain


def _ctx() -> RequestContext:
    return RequestContext(request_id="req_1", shape="openai_chat", headers={})


class Recorder(Filter):
    """Overrides every hook and appends (name, hook) to a shared log."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.fname = name
        self.log = log

    async def on_request(self, ctx: RequestContext) -> None:
        self.log.append((self.fname, "on_request"))

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        self.log.append((self.fname, "on_response"))

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> list[StreamEvent]:
        self.log.append((self.fname, "on_stream_event"))
        return [ev]

    async def on_complete(self, ctx: RequestContext) -> None:
        self.log.append((self.fname, "on_complete"))

    async def start(self) -> None:
        self.log.append((self.fname, "start"))

    async def close(self) -> None:
        self.log.append((self.fname, "close"))


class OnlyRequest(Filter):
    name: ClassVar[str] = "only_request"

    def __init__(self) -> None:
        self.calls = 0

    async def on_request(self, ctx: RequestContext) -> None:
        self.calls += 1


class Broken(Filter):
    name: ClassVar[str] = "broken"

    async def on_request(self, ctx: RequestContext) -> None:
        raise RuntimeError("oops")

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        raise KeyError("k")

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> list[StreamEvent]:
        raise ValueError("v")

    async def on_complete(self, ctx: RequestContext) -> None:
        raise RuntimeError("late")


class BrokenClosed(Broken):
    name: ClassVar[str] = "guard"
    fail_closed: ClassVar[bool] = True


class Rejecting(Filter):
    name: ClassVar[str] = "rejecting"

    async def on_request(self, ctx: RequestContext) -> None:
        raise PermissionDenied("no")

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> list[StreamEvent]:
        raise PermissionDenied("blocked content")


def _resp() -> ChatResponse:
    return ChatResponse(id="x", model="m", choices=[])


async def test_only_overriding_filters_are_registered_per_hook() -> None:
    only = OnlyRequest()
    chain = FilterChain([only])
    assert chain.has("on_request")
    assert not chain.has("on_response")
    assert not chain.has("on_stream_event")
    assert not chain.has("on_complete")
    ctx = _ctx()
    await chain.on_request(ctx)
    await chain.on_response(ctx, _resp())
    await chain.stream_events(ctx, [TextDelta("x")])
    chain.complete(ctx)  # nothing to schedule: no task is created
    assert not chain._tasks
    assert only.calls == 1


async def test_inherited_hooks_are_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = FilterChain([OnlyRequest()])
    called: list[str] = []

    async def spy(self: Filter, *args: object) -> None:
        called.append("base")

    monkeypatch.setattr(Filter, "on_response", spy)
    monkeypatch.setattr(Filter, "on_complete", spy)
    monkeypatch.setattr(Filter, "on_stream_event", spy)
    ctx = _ctx()
    await chain.on_response(ctx, _resp())
    await chain.stream_events(ctx, [TextDelta("x")])
    chain.complete(ctx)
    await asyncio.sleep(0)
    assert called == []


async def test_hooks_run_in_filter_order() -> None:
    log: list[tuple[str, str]] = []
    chain = FilterChain([Recorder("a", log), OnlyRequest(), Recorder("b", log)])
    ctx = _ctx()
    await chain.on_request(ctx)
    await chain.on_response(ctx, _resp())
    await chain.stream_events(ctx, [TextDelta("x")])
    assert log == [
        ("a", "on_request"),
        ("b", "on_request"),
        ("a", "on_response"),
        ("b", "on_response"),
        ("a", "on_stream_event"),
        ("b", "on_stream_event"),
    ]


async def test_plano_error_stops_the_chain_and_propagates() -> None:
    log: list[tuple[str, str]] = []
    chain = FilterChain([Rejecting(), Recorder("after", log)])
    with pytest.raises(PermissionDenied):
        await chain.on_request(_ctx())
    with pytest.raises(PermissionDenied):
        await chain.stream_events(_ctx(), [TextDelta("x")])
    assert log == []
    assert chain.failures == {}  # an on-purpose rejection is not a failure


async def test_other_exceptions_are_isolated_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str]] = []
    chain = FilterChain([Broken(), Recorder("next", log)])
    ctx = _ctx()
    with caplog.at_level(logging.ERROR, logger="plano.filters"):
        await chain.on_request(ctx)
        await chain.on_response(ctx, _resp())
        await chain.stream_events(ctx, [TextDelta("x")])
    assert log == [("next", "on_request"), ("next", "on_response"), ("next", "on_stream_event")]
    assert chain.failures["broken"] == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("broken failed in on_request" in m for m in messages)
    assert any("broken failed in on_stream_event" in m for m in messages)
    assert chain.snapshot() == {"filters": ["broken", "filter"], "failures": {"broken": 3}}


@pytest.mark.parametrize("hook", ["on_request", "on_response", "on_stream_event"])
async def test_fail_closed_filter_turns_a_crash_into_a_plano_error(hook: str) -> None:
    log: list[tuple[str, str]] = []
    chain = FilterChain([BrokenClosed(), Recorder("next", log)])
    ctx = _ctx()
    with pytest.raises(PlanoError) as info:
        if hook == "on_request":
            await chain.on_request(ctx)
        elif hook == "on_response":
            await chain.on_response(ctx, _resp())
        else:
            await chain.stream_events(ctx, [TextDelta("x")])
    err = info.value
    assert type(err) is PlanoError
    assert err.status == 500
    assert "guard" in err.message
    assert err.__cause__ is not None  # the original failure is chained
    assert chain.failures["guard"] == 1
    assert log == []  # the chain stopped


async def test_on_complete_runs_on_its_own_task_after_complete() -> None:
    seen: list[asyncio.Task[object] | None] = []

    class Completer(Filter):
        name: ClassVar[str] = "completer"

        async def on_complete(self, ctx: RequestContext) -> None:
            seen.append(asyncio.current_task())

    chain = FilterChain([Completer()])
    chain.complete(_ctx())
    assert seen == []  # scheduled, not run inline
    assert len(chain._tasks) == 1
    await asyncio.gather(*chain._tasks)
    assert seen and seen[0] is not asyncio.current_task()
    await asyncio.sleep(0)
    assert not chain._tasks  # the reference is dropped once the task is done


async def test_on_complete_failures_are_counted_and_later_filters_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str]] = []
    chain = FilterChain([Broken(), BrokenClosed(), Recorder("after", log)])
    with caplog.at_level(logging.ERROR, logger="plano.filters"):
        chain.complete(_ctx())
        await chain.close()
    # fail_closed does not matter once the answer is out.
    assert chain.failures == {"broken": 1, "guard": 1}
    assert ("after", "on_complete") in log
    assert any("failed in on_complete" in r.getMessage() for r in caplog.records)


async def test_start_and_close_order_and_close_waits_for_pending_completions() -> None:
    log: list[tuple[str, str]] = []
    release = asyncio.Event()

    class Slow(Filter):
        name: ClassVar[str] = "slow"

        async def on_complete(self, ctx: RequestContext) -> None:
            await release.wait()
            log.append(("slow", "on_complete"))

    chain = FilterChain([Recorder("a", log), Slow(), Recorder("b", log)])
    await chain.start()
    assert log == [("a", "start"), ("b", "start")]
    log.clear()
    chain.complete(_ctx())
    closing = asyncio.create_task(chain.close())
    await asyncio.sleep(0.01)
    assert ("a", "close") not in log  # close waits for on_complete to finish
    release.set()
    await closing
    assert log == [
        ("a", "on_complete"),
        ("slow", "on_complete"),
        ("b", "on_complete"),
        ("a", "close"),
        ("b", "close"),
    ]


async def test_a_filter_failing_to_close_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str]] = []

    class BadClose(Filter):
        name: ClassVar[str] = "bad_close"

        async def close(self) -> None:
            raise OSError("disk")

    chain = FilterChain([BadClose(), Recorder("b", log)])
    with caplog.at_level(logging.ERROR, logger="plano.filters"):
        await chain.close()
    assert log == [("b", "close")]
    assert any("bad_close failed to close" in r.getMessage() for r in caplog.records)


async def test_a_request_filter_is_assumed_to_rewrite_unless_it_says_otherwise() -> None:
    from plano.core.model import ChatRequest, Message, TextPart

    class Quiet(Filter):
        name: ClassVar[str] = "quiet"

        async def on_request(self, ctx: RequestContext) -> None:
            assert ctx.request is not None
            ctx.request.messages[0].content[0] = TextPart("edited, without saying so")

    class ReadOnly(Filter):
        name: ClassVar[str] = "read_only"
        rewrites_request: ClassVar[bool] = False

        async def on_request(self, ctx: RequestContext) -> None:
            return None

    def ctx_with_raw() -> RequestContext:
        ctx = _ctx()
        ctx.request = ChatRequest("m", [Message("user", [TextPart("hi")])], raw={"model": "m"})
        ctx.request.raw_body = b'{"model": "m"}'
        return ctx

    ctx = ctx_with_raw()
    await FilterChain([Quiet()]).on_request(ctx)
    assert ctx.request is not None and ctx.request.raw is None and ctx.request.raw_body is None
    ctx = ctx_with_raw()
    await FilterChain([ReadOnly()]).on_request(ctx)
    assert ctx.request is not None and ctx.request.raw_body is not None  # the fast path stays


async def test_head_filters_run_before_the_body_and_may_refuse() -> None:
    class Head(Filter):
        name: ClassVar[str] = "head"
        fail_closed: ClassVar[bool] = True

        def __init__(self) -> None:
            self.seen: list[object] = []

        async def on_headers(self, ctx: RequestContext) -> None:
            self.seen.append(ctx.request)  # nothing parsed yet
            if ctx.headers.get("x-key") != "ok":
                raise PermissionDenied("no key")

    head = Head()
    chain = FilterChain([OnlyRequest(), head])
    assert chain.has("on_headers") and not FilterChain([OnlyRequest()]).has("on_headers")
    await chain.on_headers(RequestContext("r", "openai_chat", {"x-key": "ok"}))
    with pytest.raises(PermissionDenied):
        await chain.on_headers(_ctx())
    assert head.seen == [None, None]
    broken = FilterChain([BrokenClosed()])
    await broken.on_headers(_ctx())  # a hook it does not override is never called
