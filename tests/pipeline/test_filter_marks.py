"""What a sampled request's chain records for its trace: a mark per decision filter's run;
none for bookkeeping filters (they make no span) unless they fail."""

from __future__ import annotations

from typing import ClassVar

import pytest

from plano.errors import PermissionDenied, PlanoError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter, FilterChain
from plano.pipeline.marks import TraceMarks


class _Named(Filter):
    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.fail = fail
        self.calls = 0

    async def on_request(self, ctx: RequestContext) -> None:
        self.calls += 1
        if self.fail is not None:
            raise self.fail


class _Tracing(Filter):
    name: ClassVar[str] = "tracing"

    async def on_request(self, ctx: RequestContext) -> None:
        pass

    async def on_complete(self, ctx: RequestContext) -> None:
        pass


def _sampled() -> RequestContext:
    ctx = RequestContext(request_id="req_1", shape="openai_chat", headers={})
    ctx.spans = TraceMarks()
    return ctx


async def test_only_decision_filters_and_the_marker_are_marked() -> None:
    acc, guard = _Named("accounting"), _Named("guard")
    chain = FilterChain([acc, guard, _Tracing()])
    ctx = _sampled()
    await chain.on_request(ctx)
    assert ctx.spans is not None
    assert [(m.filter, m.hook) for m in ctx.spans.filters] == [
        ("guard", "on_request"),
        ("tracing", "on_request"),  # when routing began
    ]
    assert acc.calls == guard.calls == 1


async def test_a_failing_bookkeeping_filter_is_marked_with_its_error() -> None:
    chain = FilterChain([_Named("metrics", RuntimeError("boom")), _Named("accounting")])
    ctx = _sampled()
    await chain.on_request(ctx)
    assert ctx.spans is not None
    assert [(m.filter, m.error) for m in ctx.spans.filters] == [("metrics", "filter_failed")]
    refused = FilterChain([_Named("audit", PermissionDenied("no"))])
    ctx = _sampled()
    with pytest.raises(PlanoError):
        await refused.on_request(ctx)
    assert ctx.spans is not None
    assert [(m.filter, m.error) for m in ctx.spans.filters] == [
        ("audit", PermissionDenied("no").metric_label)
    ]
