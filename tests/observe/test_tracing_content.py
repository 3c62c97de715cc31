"""The answer's text kept for the span of a streamed answer (``tracing.capture_content``)."""

from __future__ import annotations

from typing import Any

from plano.core.model import ChatRequest, Message, TextDelta, TextPart
from plano.core.trace import TraceContext
from plano.observe.tracing import ContentTracingFilter
from plano.pipeline.context import RequestContext
from plano.pipeline.marks import TraceMarks


class _Tracer:
    def __init__(self) -> None:
        self.outputs: list[str | None] = []

    def submit(self, ctx: RequestContext, marks: TraceMarks, output: str | None) -> None:
        self.outputs.append(output)


def _ctx() -> RequestContext:
    ctx = RequestContext(
        "req-1",
        "openai_chat",
        {},
        started_ns=0,
        trace=TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "1" * 16, "b7ad6b7169203331"),
        listener="llm",
        request=ChatRequest("chat", [Message("user", [TextPart("hi")])]),
    )
    ctx.spans = TraceMarks()
    return ctx


async def test_streamed_text_is_joined_once_and_capped() -> None:
    tracer: Any = _Tracer()
    f = ContentTracingFilter(tracer, cap=10)
    ctx = _ctx()
    for piece in ("Hello", ", ", "world", "! and much more"):
        f.on_stream_seen(ctx, TextDelta(piece))
    f.on_stream_seen(ctx, TextDelta("other choice", index=1))
    await f.on_complete(ctx)
    assert tracer.outputs == ["Hello, wor"]


async def test_no_text_no_output() -> None:
    tracer: Any = _Tracer()
    await ContentTracingFilter(tracer, cap=10).on_complete(_ctx())
    assert tracer.outputs == [None]
