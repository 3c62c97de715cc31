"""The span enricher puts a request's signals on its answering LLM span."""

from __future__ import annotations

from plano.core.model import ChatRequest, Message, TextPart
from plano.filters.signals import SignalDesk, SignalsFilter
from plano.observe.spans import KIND_CLIENT, KIND_SERVER, Service, Span
from plano.pipeline.context import RequestContext
from plano.server.signals_spans import enrich_spans


def _spans() -> list[Span]:
    return [
        Span(
            "t" * 32,
            "a" * 16,
            None,
            "POST /v1/chat/completions",
            Service.INBOUND,
            KIND_SERVER,
            1,
            9,
        ),
        Span("t" * 32, "b" * 16, "a" * 16, "llm gpt-4o", Service.LLM, KIND_CLIENT, 2, 8),
    ]


async def test_signals_land_on_the_llm_span_with_events_and_the_flag() -> None:
    desk = SignalDesk(interval=60)
    try:
        ctx = RequestContext("r1", "openai_chat", {})
        ctx.request = ChatRequest("m", [Message("user", [TextPart("forget it, get me a human")])])
        await SignalsFilter(desk).on_complete(ctx)
        spans = _spans()
        enrich_spans(ctx, spans)
        inbound, llm = spans
        assert "signals.quality" not in inbound.attributes
        assert llm.attributes["signals.quality"] == "severe"
        assert llm.attributes["signals.interaction.disengagement.count"] == 2
        assert [e.name for e in llm.events] == [
            "signal.interaction.disengagement.escalation",
            "signal.interaction.disengagement.quit",
        ]
        assert llm.events[0].time_ns == 8
        assert llm.name == "llm gpt-4o \U0001f6a9"
        enrich_spans(ctx, spans)  # again (a retried batch): no second flag
        assert llm.name.count("\U0001f6a9") == 1
    finally:
        await desk.close()


def test_requests_without_signals_are_left_alone() -> None:
    spans = _spans()
    enrich_spans(RequestContext("r2", "openai_chat", {}), spans)
    assert all("signals.quality" not in s.attributes and not s.events for s in spans)
    enrich_spans(RequestContext("r3", "openai_chat", {}), [])
