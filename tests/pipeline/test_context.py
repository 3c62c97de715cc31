"""RequestContext timing maths with fixed nanosecond values."""

from __future__ import annotations

import pytest

from plano.core.model import ChatRequest, Message
from plano.pipeline.context import RequestContext

MS = 1_000_000


def _ctx(**kw: int) -> RequestContext:
    ctx = RequestContext(request_id="r", shape="openai_chat", headers={}, started_ns=1_000 * MS)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def test_overhead_is_total_minus_upstream() -> None:
    ctx = _ctx(
        upstream_start_ns=1_002 * MS,
        upstream_headers_ns=1_050 * MS,
        upstream_end_ns=1_090 * MS,
        end_ns=1_095 * MS,
    )
    assert ctx.total_ms() == pytest.approx(95.0)
    assert ctx.upstream_ms() == pytest.approx(88.0)
    assert ctx.overhead_ms() == pytest.approx(7.0)


def test_upstream_time_falls_back_to_the_headers_timestamp() -> None:
    ctx = _ctx(upstream_start_ns=1_010 * MS, upstream_headers_ns=1_030 * MS, end_ns=1_040 * MS)
    assert ctx.upstream_ms() == pytest.approx(20.0)
    assert ctx.overhead_ms() == pytest.approx(20.0)


def test_no_upstream_call_means_all_time_is_overhead() -> None:
    ctx = _ctx(end_ns=1_004 * MS)
    assert ctx.upstream_ms() == 0.0
    assert ctx.overhead_ms() == pytest.approx(4.0)


def test_overhead_is_never_negative() -> None:
    ctx = _ctx(upstream_start_ns=900 * MS, upstream_end_ns=1_100 * MS, end_ns=1_050 * MS)
    assert ctx.overhead_ms() == 0.0


def test_open_ended_times_use_the_clock() -> None:
    ctx = RequestContext(request_id="r", shape="s", headers={})
    ctx.upstream_start_ns = ctx.started_ns
    assert ctx.total_ms() >= 0.0
    assert ctx.upstream_ms() >= 0.0


def test_ttft() -> None:
    assert _ctx().ttft_ms() is None
    assert _ctx(first_token_ns=1_250 * MS).ttft_ms() == pytest.approx(250.0)


def test_stream_and_model_requested() -> None:
    ctx = _ctx()
    assert ctx.stream is False
    assert ctx.model_requested == ""
    ctx.request = ChatRequest(model="fast", messages=[Message("user")], stream=True)
    assert ctx.stream is True
    assert ctx.model_requested == "fast"
