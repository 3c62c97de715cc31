from __future__ import annotations

import asyncio

import pytest

from plano.core.model import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    TextDelta,
    TextPart,
    ToolCallDelta,
)
from plano.filters.signals import (
    SignalDesk,
    SignalJob,
    SignalsFilter,
    signals_enabled,
    signals_report,
)
from plano.observe.metrics import MetricsRegistry, merge, render
from plano.pipeline.context import RequestContext
from plano.signals import SignalReport, transcript


def say(role: str, text: str) -> Message:
    return Message(role, [TextPart(text)])  # type: ignore[arg-type]


ANGRY = [say("user", "where is my refund"), say("assistant", "Let me check."),
         say("user", "forget it, get me a human")]  # fmt: skip


def ctx(messages: list[Message], *, stream: bool = False, rid: str = "req-1") -> RequestContext:
    c = RequestContext(rid, "openai_chat", {})
    c.request = ChatRequest("gpt-4o", list(messages), stream=stream)
    return c


@pytest.fixture
async def desk() -> SignalDesk:
    d = SignalDesk(interval=0)
    yield d  # type: ignore[misc]
    await d.close()


async def test_a_non_stream_answer_is_analysed_with_the_conversation(desk: SignalDesk) -> None:
    f = SignalsFilter(desk)
    c = ctx([say("user", "Find flights to Rome")])
    same = "I could not find any flights for those dates, sorry about that."
    c.request.messages += [say("assistant", same), say("user", "try again please, Rome")]  # type: ignore[union-attr]
    await f.on_response(c, ChatResponse("r", "m", [Choice(0, say("assistant", same), "stop")]))
    await f.on_complete(c)
    assert desk.queued == 1 and c.state["signals"] is desk._queue[0]
    await desk.drain()
    entry = desk.window.find("req-1")
    assert entry is not None and entry.trace_id == c.trace.trace_id
    assert [s.type for s in entry.report.signals] == ["interaction.stagnation.repetition"]
    assert entry.report.signals[0].message_index == 3  # the answer, one past the request
    assert isinstance(c.state["signals"], SignalJob)  # the answer's reference is dropped


async def test_a_streamed_answer_is_collected_bounded(desk: SignalDesk) -> None:
    f = SignalsFilter(desk)
    c = ctx([say("user", "look it up")], stream=True)
    for piece in ("I will ", "search."):
        f.on_stream_seen(c, TextDelta(piece))
    f.on_stream_seen(c, ToolCallDelta(0, "c1", "search", '{"q":'))
    f.on_stream_seen(c, ToolCallDelta(0, arguments=' "x"}'))
    f.on_stream_seen(c, TextDelta("other choice", index=1))
    await f.on_complete(c)
    job = desk._queue[0]
    roles = [(t.role, t.text, t.name) for t in job.transcript.turns]
    assert roles == [
        ("user", "look it up", ""),
        ("assistant", "I will search.", ""),
        ("tool_call", '{"q": "x"}', "search"),
    ]


async def test_failed_requests_and_inner_hops_are_not_analysed(desk: SignalDesk) -> None:
    f = SignalsFilter(desk)
    failed = ctx(ANGRY)
    failed.status = 502
    await f.on_complete(failed)
    inner = ctx(ANGRY).child("llm", "req-2", request=ChatRequest("m", ANGRY))
    await f.on_complete(inner)
    await f.on_complete(RequestContext("req-3", "openai_chat", {}))  # refused before parsing
    internal = ctx(ANGRY, rid="router")
    internal.labels["plano_internal"] = "preference_router"
    await f.on_complete(internal)
    assert desk.queued == 0


async def test_the_background_batch_reports_to_subscribers() -> None:
    desk = SignalDesk(interval=0)
    got: asyncio.Queue[tuple[SignalJob, SignalReport]] = asyncio.Queue()
    desk.subscribe(lambda job, report: got.put_nowait((job, report)))
    desk.subscribe(lambda job, report: 1 / 0)  # a broken subscriber changes nothing
    try:
        await SignalsFilter(desk).on_complete(ctx(ANGRY))
        job, report = await asyncio.wait_for(got.get(), 10)
        assert job.request_id == "req-1" and job.report is report
        assert report.quality == "severe" and report.flagged
        assert desk.totals.analyzed == 1 and desk.totals.seconds > 0
    finally:
        await desk.close()


async def test_a_full_queue_drops_and_counts(desk: SignalDesk) -> None:
    small = SignalDesk(capacity=2, interval=60)
    try:
        t = transcript(ChatRequest("m", ANGRY))
        results = [small.submit(SignalJob(f"r{i}", "t", "", t, 0.0)) for i in range(5)]
        assert results == [True, True, False, False, False]
        assert small.totals.dropped == 3 and small.queued == 2
    finally:
        await small.close()
    assert not small.submit(SignalJob("late", "t", "", t, 0.0))  # closed


async def test_summary_shape(desk: SignalDesk) -> None:
    f = SignalsFilter(desk)
    await f.on_complete(ctx(ANGRY, rid="angry"))
    await f.on_complete(ctx([say("user", "hi"), say("assistant", "hello")], rid="calm"))
    await desk.drain()
    s = desk.summary(recent=5)
    assert s["enabled"] is True
    assert s["window"]["requests"] == 2 and s["window"]["capacity"] == 1000
    assert s["quality"] == {"excellent": 0, "good": 0, "neutral": 1, "poor": 0, "severe": 1}
    assert s["flagged"] == 1
    dis = s["categories"]["interaction.disengagement"]
    assert dis == {
        "requests": 1,
        "signals": 2,
        "severity": {"1": 1, "2": 0, "3": 0},
        "types": {"escalation": 1, "quit": 1, "negative_stance": 0},
    }
    assert len(s["categories"]) == 7
    assert s["quality_score"]["min"] == 0.0 and s["quality_score"]["max"] == 50.0
    (flag,) = s["recent_flagged"]
    assert flag["request_id"] == "angry" and flag["quality"] == "severe"
    assert flag["types"] == [
        "interaction.disengagement.escalation",
        "interaction.disengagement.quit",
    ]
    assert s["totals"]["analyzed"] == 2 and s["totals"]["queued"] == 0
    empty = SignalDesk().summary(enabled=False)
    assert empty["enabled"] is False and empty["quality_score"]["mean"] is None


async def test_metrics_come_from_the_totals(desk: SignalDesk) -> None:
    registry = MetricsRegistry()
    desk.bind_metrics(registry)
    await SignalsFilter(desk).on_complete(ctx(ANGRY))
    await desk.drain()
    desk.totals.dropped = 4
    text = render(registry, merge(registry, [], own=registry.snapshot()))
    assert 'plano_signal_analyses_total{quality="severe"} 1' in text
    assert 'plano_signal_analyses_total{quality="good"} 0' in text
    line = 'plano_signals_total{layer="interaction",category="disengagement",type="quit"} 1'
    assert line in text
    assert "plano_signal_flagged_total 1" in text
    assert "plano_signal_dropped_total 4" in text


def test_disable_signals_override() -> None:
    from plano.config import PlanoConfig

    base = {
        "version": "v0.3.0",
        "listeners": [{"name": "llm", "type": "model", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "sk-x", "default": True}],
    }
    assert signals_enabled(PlanoConfig.model_validate(base))
    off = {**base, "overrides": {"disable_signals": True}}
    assert not signals_enabled(PlanoConfig.model_validate(off))


async def test_the_window_counts_follow_evictions() -> None:
    from plano.filters.signals_summary import Entry, SignalWindow
    from plano.signals import analyze

    angry = analyze(transcript(ChatRequest("m", ANGRY)))
    calm = analyze(transcript(ChatRequest("m", [say("user", "hi")])))
    w = SignalWindow(capacity=3)
    for i, r in enumerate([angry, angry, calm, calm, angry]):
        w.add(Entry(f"r{i}", "t", "", float(i), r))
    s = w.summary()
    assert len(w) == 3 and w.find("r0") is None and w.find("r4") is not None
    assert s["quality"]["severe"] == 1 and s["quality"]["neutral"] == 2 and s["flagged"] == 1
    dis = s["categories"]["interaction.disengagement"]
    assert dis["requests"] == 1 and dis["signals"] == 2 and dis["types"]["quit"] == 1
    assert s["window"]["oldest"] == 2.0 and s["window"]["newest"] == 4.0
    assert [e["request_id"] for e in w.summary(recent=0)["recent_flagged"]] == []


async def test_the_tracer_thread_can_analyse_first_and_it_is_counted_once() -> None:
    desk = SignalDesk(interval=60)  # the desk's own batch does not run in this test
    try:
        c = ctx(ANGRY)
        await SignalsFilter(desk).on_complete(c)
        # The span enricher, in the tracer's thread, finds the job and analyses it.
        report = await asyncio.to_thread(signals_report, c)
        assert report is not None and report.quality == "severe"
        await asyncio.sleep(0)  # the count hops back to the loop
        assert desk.totals.analyzed == 1
        await desk.drain()  # the desk reuses the report, counts nothing twice
        assert desk.totals.analyzed == 1 and desk.window.find("req-1") is not None
        assert signals_report(ctx(ANGRY, rid="untracked")) is None  # no job on it
    finally:
        await desk.close()
