"""The tracer's pieces: sampling, traceparent to providers, attempt marks, the chain's filter
timings, the bounded queue, enrichers, OTLP payloads, and both exporters against real
receivers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.observe.otlp_receiver import GrpcReceiver, HttpReceiver, flatten

from plano.config.tracing import Tracing
from plano.core.model import ChatRequest, Message, TextPart
from plano.core.trace import TraceContext
from plano.errors import PlanoError, UpstreamStatusError
from plano.filters.client import filter_headers
from plano.observe.export import GrpcExporter, HttpExporter
from plano.observe.otlp_wire import encode_request
from plano.observe.spans import KIND_SERVER, STATUS_ERROR, Span, SpanEvent
from plano.observe.tracing import (
    SpanEnrichers,
    Tracer,
    TraceStart,
    TracingFilter,
    filter_span_names,
)
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter, FilterChain
from plano.pipeline.marks import TraceMarks
from plano.providers.codec import UpstreamRequest
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0{}"


def ctx_with(traceparent: str | None = None) -> RequestContext:
    return RequestContext(
        "r1",
        "openai_chat",
        {},
        trace=TraceContext.start(traceparent),
        request=ChatRequest("m", [Message("user", [TextPart("hi")])]),
    )


def dep() -> Deployment:
    return Deployment("gpt", "openai", "gpt-4o", KNOWN_PROVIDERS["openai"], "http://x", label="d")


async def test_sampling_rate_and_the_callers_decision() -> None:
    never, always = TraceStart(0), TraceStart(100)
    c = ctx_with()
    await never.on_headers(c)
    assert c.spans is None and c.trace.sampled is False  # providers are told: not sampled
    c = ctx_with()
    await always.on_headers(c)
    assert c.spans is not None
    c = ctx_with(PARENT.format(1))  # the caller sampled it: traced even at 0 %
    await never.on_headers(c)
    assert c.spans is not None
    c = ctx_with(PARENT.format(0))  # the caller did not: not traced even at 100 %
    await always.on_headers(c)
    assert c.spans is None
    half = TraceStart(50, random.Random(7))
    picked = 0
    for _ in range(2000):
        c = ctx_with()
        await half.on_headers(c)
        picked += c.spans is not None
    assert 850 < picked < 1150
    root = ctx_with()
    await always.on_headers(root)
    hop = root.child("agent", "r1.a")
    marks = hop.spans
    await always.on_headers(hop)  # a hop keeps its request's marks
    assert hop.spans is marks is root.spans


async def test_attempts_send_their_span_upstream_and_are_marked() -> None:
    tracer = Tracer(Tracing(), [], None)
    f = TracingFilter(tracer)
    c = ctx_with()
    c.spans = TraceMarks()
    d = dep()
    for error in (UpstreamStatusError("boom", status=503), None):
        f.on_attempt_start(c, d)
        req = UpstreamRequest("http://x/v1/chat/completions", {}, b"{}")
        await f.on_upstream_request(c, d, req)
        f.on_attempt_end(c, d, error)
        mark = c.spans.attempts[-1]
        assert req.headers["traceparent"] == f"00-{c.trace.trace_id}-{mark.span_id}-01"
        assert mark.url == "http://x/v1/chat/completions" and mark.deployment == "d"
    failed, ok = c.spans.attempts
    assert (failed.status, failed.error) == (503, "upstream_status")
    assert ok.error is None and failed.span_id != ok.span_id
    # unsampled: still a traceparent, flagged not sampled
    u = ctx_with()
    await TraceStart(0).on_headers(u)
    req = UpstreamRequest("http://x/v1/chat/completions", {}, b"{}")
    await f.on_upstream_request(u, d, req)
    assert req.headers["traceparent"].endswith("-00")


class _Decides(Filter):
    name = "decider"

    def __init__(self, seen: list[str | None], fail: bool = False) -> None:
        self.seen = seen
        self.fail = fail

    async def on_request(self, ctx: RequestContext) -> None:
        # as a remote filter does: the traceparent it sends names its span
        self.seen.append(filter_headers(ctx, self.name, forward_auth=False)["traceparent"])
        if self.fail:
            raise PlanoError("no")


class _Quiet(Filter):
    name = "quiet"

    async def on_request(self, ctx: RequestContext) -> None:
        return None


async def test_the_chain_times_each_filter_of_a_sampled_request() -> None:
    seen: list[str] = []
    chain = FilterChain([_Quiet(), _Decides(seen)])
    c = ctx_with()
    await chain.on_request(c)  # not sampled: no marks
    assert c.spans is None and len(seen) == 1
    c.spans = TraceMarks()
    await chain.on_request(c)
    quiet, remote = c.spans.filters
    assert (remote.filter, remote.hook, remote.error) == ("decider", "on_request", None)
    # the remote filter's span is the one its traceparent named; the other gets its id later
    assert seen[-1] == f"00-{c.trace.trace_id}-{remote.span_id}-01"
    assert quiet.span_id == "" and c.spans.active is None
    assert remote.end_ns >= remote.start_ns >= quiet.end_ns and remote.hop == c.trace.span_id
    refusing = FilterChain([_Decides(seen, fail=True)])
    with pytest.raises(PlanoError):
        await refusing.on_request(c)
    assert c.spans.filters[-1].error == PlanoError.metric_label


def _spans(n: int) -> list[Span]:
    return [
        Span(
            "0af7651916cd43dd8448eb211c80319c",
            f"{i + 1:016x}",
            None if i == 0 else "0000000000000001",
            f"s{i}",
            "plano(inbound)" if i == 0 else "plano(llm)",
            KIND_SERVER,
            10 + i,
            20 + i,
            STATUS_ERROR if i else 1,
            "bad" if i else None,
            {"b": True, "i": 3, "f": 0.5, "s": "x"},
            [SpanEvent("e", 15, {"k": "v"})],
        )
        for i in range(n)
    ]


def test_otlp_payload_groups_spans_by_service() -> None:
    spans_in = _spans(3)
    spans_in[1].attributes.update(neg=-5, big=2**40, text="é ü")
    back = ExportTraceServiceRequest.FromString(encode_request(spans_in, {"host.name": "h"}))
    assert {kv.key for kv in back.resource_spans[0].resource.attributes} == {
        "service.name",
        "host.name",
    }
    assert back.resource_spans[0].scope_spans[0].scope.name == "plano"
    assert len(back.resource_spans) == 2
    spans = {s["name"]: s for s in flatten(back)}
    assert spans["s0"]["service"] == "plano(inbound)" and spans["s0"]["parent_id"] is None
    assert spans["s1"]["parent_id"] == "0000000000000001" and spans["s1"]["status"] == 2
    assert spans["s1"]["attributes"] == {
        "b": True,
        "i": 3,
        "f": 0.5,
        "s": "x",
        "neg": -5,
        "big": 2**40,
        "text": "é ü",
    }
    assert spans["s1"]["start_ns"] == 11 and spans["s1"]["end_ns"] == 21
    assert spans["s2"]["events"] == ["e"]


async def test_exporters_reach_real_receivers_and_count_failures() -> None:
    payload = encode_request(_spans(2), {})
    with GrpcReceiver() as grpc_rx, HttpReceiver() as http_rx:
        g = GrpcExporter(grpc_rx.url, {"x-token": "t"}, 5.0)
        h = HttpExporter(http_rx.url + "/v1/traces", {"x-token": "t"}, 5.0)
        assert await g.export(payload, 2) and await h.export(payload, 2)
        await g.close()
        await h.close()
        assert len(grpc_rx.got.spans) == 2 and len(http_rx.got.spans) == 2
        assert grpc_rx.got.metadata[0]["x-token"] == "t"
        assert http_rx.got.metadata[0]["x-token"] == "t"
    dead = GrpcExporter("http://127.0.0.1:9", {}, 1.0)
    assert not await dead.export(payload, 2)
    assert dead.stats()["failed_spans"] == 2 and dead.stats()["last_error"]
    await dead.close()
    dead_http = HttpExporter("http://127.0.0.1:9/v1/traces", {}, 1.0)
    assert not await dead_http.export(payload, 2)
    await dead_http.close()


class _Sink:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, int]] = []
        self.name = "sink"

    async def export(self, payload: bytes, spans: int) -> bool:
        self.got.append((payload, spans))
        return True

    def stats(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        return None


async def test_tracer_batches_enriches_and_bounds_its_queue() -> None:
    sink = _Sink()
    enrichers = SpanEnrichers()
    enrichers.add(lambda ctx, spans: spans[0].attributes.update(signal="ok"))

    def broken(ctx: RequestContext, spans: list[Span]) -> None:
        raise RuntimeError("enricher bug")

    enrichers.add(broken)
    t = Tracer(
        Tracing(queue_size=3, batch_size=2, export_interval=30), [sink], None, enrichers=enrichers
    )
    done = []
    for _ in range(5):
        c = ctx_with()
        c.spans = TraceMarks()
        c.end_ns = c.started_ns + 1000
        done.append(t.submit(c, c.spans))
    assert done == [True, True, True, False, False] and t.dropped == 2
    await t.flush()  # (its task, woken by the full batch, may have taken one already)
    await t.close()
    assert t.spans == 3
    assert sorted(n for _, n in sink.got) == [1, 2]  # batch_size per export
    spans = flatten(ExportTraceServiceRequest.FromString(sink.got[0][0]))
    assert spans[0]["attributes"]["signal"] == "ok"
    assert enrichers.failures == 3


def test_configured_filters_get_planos_span_names() -> None:
    class Spec:
        def __init__(self, id: str, type: str) -> None:
            self.id, self.type = id, type

    names = filter_span_names([Spec("a", "http"), Spec("b", "mcp"), Spec("c", "pii")])
    assert names == {
        "a": "execute_raw_filter (a)",
        "b": "execute_mcp_filter_raw (b)",
        "c": "filter (c)",
    }


async def test_the_tracer_starts_on_its_first_request() -> None:
    sink = _Sink()
    t = Tracer(Tracing(export_interval=0.05), [sink], None)
    c = ctx_with()
    c.spans = TraceMarks()
    c.end_ns = c.started_ns + 1
    t.submit(c, c.spans)
    for _ in range(100):
        if sink.got:
            break
        await asyncio.sleep(0.01)
    assert sink.got and t.stats()["spans"] == 1
    await t.close()
