"""Spans from a finished request's context and marks: the tree, names, links, Plano's and the
GenAI attribute names, errors, hops made with ctx.child, header and static attributes."""

from __future__ import annotations

from decimal import Decimal

from plano.core.model import ChatRequest, Message, TextPart, Usage
from plano.core.trace import TraceContext
from plano.errors import UpstreamStatusError
from plano.observe.spans import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_OK, Service
from plano.observe.tracing_build import BuildSettings, build_spans, header_attributes
from plano.pipeline.context import Decision, Principal, RequestContext
from plano.pipeline.marks import AttemptMark, FilterMark, TraceMarks
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS

MS = 1_000_000
T = "0af7651916cd43dd8448eb211c80319c"


def dep(name: str, model: str = "gpt-4o-mini") -> Deployment:
    return Deployment(name, "openai", model, KNOWN_PROVIDERS["openai"], "http://x", label=name)


def request_ctx(**kw: object) -> RequestContext:
    ctx = RequestContext(
        "req-1",
        "openai_chat",
        {"x-acme-workspace-id": "w1", "authorization": "Bearer sk-secret"},
        started_ns=1_000 * MS,
        trace=TraceContext(T, "1" * 16, "b7ad6b7169203331"),
        listener="llm",
        request=ChatRequest("chat", [Message("user", [TextPart("hello there")])], temperature=0.2),
    )
    ctx.spans = TraceMarks()
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def answered(ctx: RequestContext, marks: TraceMarks) -> None:
    hop = ctx.trace.span_id
    marks.filters += [
        FilterMark(hop, "a" * 16, "auth", "on_headers", 1_000 * MS, 1_001 * MS, None),
        FilterMark(hop, "b" * 16, "accounting", "on_request", 1_001 * MS, 1_002 * MS, None),
        FilterMark(hop, "c" * 16, "guard", "on_request", 1_002 * MS, 1_004 * MS, None),
        FilterMark(hop, "d" * 16, "tracing", "on_request", 1_004 * MS, 1_005 * MS, None),
    ]
    marks.attempts += [
        AttemptMark(
            hop,
            "e" * 16,
            "secondary",
            "openai",
            "gpt-4o-mini",
            "http://x/v1/chat/completions?key=sk-q",
            1_006 * MS,
            1_010 * MS,
            500,
            "server_error",
        ),
        AttemptMark(
            hop,
            "f" * 16,
            "primary",
            "openai",
            "gpt-4o-mini",
            "http://x/v1/chat/completions?key=sk-q",
            1_011 * MS,
            1_040 * MS,
            200,
            None,
        ),
    ]
    ctx.deployment = dep("primary")
    ctx.usage = Usage(12, 7, cache_read_tokens=3)
    ctx.cost = Decimal("0.0021")
    ctx.first_token_ns = 1_020 * MS
    ctx.upstream_start_ns = 1_011 * MS
    ctx.end_ns = 1_039 * MS
    ctx.route = "code"
    ctx.decisions.append(Decision("auth", "allow", reason="key k1"))


def test_the_tree_of_one_request_with_a_fallback() -> None:
    ctx = request_ctx(principal=Principal("k1", "key", user="ann", team="t"))
    marks = ctx.spans
    assert marks is not None
    answered(ctx, marks)
    spans = build_spans(ctx, marks, BuildSettings(static={"env": "prod"}), offset=10**18)
    by = {s.name: s for s in spans}
    root = spans[0]
    assert root.name == "POST /v1/chat/completions" and root.kind == KIND_SERVER
    assert (root.trace_id, root.span_id, root.parent_id) == (T, "1" * 16, "b7ad6b7169203331")
    assert root.service == Service.INBOUND and root.status == STATUS_OK
    # the root covers the answering attempt, whose observers end it after the answer
    assert root.start_ns == 10**18 + 1_000 * MS and root.end_ns == 10**18 + 1_040 * MS
    # bookkeeping filters and the tracer's own marker are not spans; deciders are
    assert set(by) == {
        "POST /v1/chat/completions",
        "auth on_headers",
        "guard on_request",
        "routing",
        "POST /v1/chat/completions gpt-4o-mini",
    }
    assert len(spans) == 6
    assert [s.name for s in spans].count("POST /v1/chat/completions gpt-4o-mini") == 2
    assert all(s.parent_id == root.span_id for s in spans[1:])
    assert all(s.attributes["env"] == "prod" for s in spans)
    routing = by["routing"]
    assert (routing.start_ns, routing.end_ns) == (10**18 + 1_005 * MS, 10**18 + 1_006 * MS)
    assert routing.attributes["routing.route"] == "code"
    assert routing.attributes["routing.attempted"] == "secondary,primary"
    failed, ok = (s for s in spans if s.service == Service.LLM)
    assert failed.status == STATUS_ERROR and failed.attributes["error.type"] == "server_error"
    assert failed.span_id == "e" * 16 and failed.kind == KIND_CLIENT
    assert ok.attributes["plano.fallback"] is True and ok.attributes["plano.attempt"] == 2
    assert ok.attributes["gen_ai.usage.input_tokens"] == 12
    assert ok.attributes["gen_ai.usage.cache_read_input_tokens"] == 3
    assert ok.attributes["llm.time_to_first_token"] == 9.0
    a = root.attributes
    assert a["gen_ai.request.model"] == "chat" and a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.usage.input_tokens"] == 12
    assert a["llm.usage.total_tokens"] == 19 and a["llm.usage.total_cost_usd"] == 0.0021
    # the answering attempt has every key, the request's own parameters too
    assert ok.attributes["gen_ai.system"] == "openai"
    assert ok.attributes["gen_ai.request.temperature"] == 0.2
    assert ok.attributes["gen_ai.usage.cost"] == 0.0021
    assert ok.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["plano.principal"] == "k1" and a["plano.user"] == "ann"
    assert a["plano.route.name"] == "code" and a["plano.request_id"] == "req-1"
    assert "gen_ai.input.messages" not in a  # content only when configured
    assert [e.name for e in root.events] == ["plano.decision"]
    assert root.events[0].attributes == {"source": "auth", "action": "allow", "reason": "key k1"}
    assert "sk-secret" not in repr(spans) and "sk-q" not in repr(spans)


def test_an_error_and_a_failing_filter() -> None:
    ctx = request_ctx()
    marks = ctx.spans
    assert marks is not None
    marks.filters.append(
        FilterMark(ctx.trace.span_id, "a" * 16, "audit", "on_request", 1, 2, "filter_failed")
    )
    ctx.status = 502
    ctx.error = UpstreamStatusError("The provider failed.", status=502)
    ctx.end_ns = 1_005 * MS
    spans = build_spans(ctx, marks, BuildSettings(), 0)
    root = spans[0]
    assert root.status == STATUS_ERROR and root.attributes["error.type"] == ctx.error.metric_label
    assert root.status_message == "The provider failed."
    # a quiet filter that failed is shown
    assert [s.name for s in spans[1:]] == ["audit on_request"]


def test_hops_made_with_child_join_the_trace() -> None:
    ctx = request_ctx()
    ctx.end_ns = 1_050 * MS
    agent = ctx.child("agent", "req-1.a", agent_id="weather")
    agent.started_ns, agent.end_ns = 1_010 * MS, 1_030 * MS
    llm = agent.child("llm", "req-1.a.1")
    llm.started_ns, llm.end_ns = 1_012 * MS, 1_020 * MS
    llm.deployment = dep("primary")
    marks = ctx.spans
    assert marks is not None and marks.hops == [agent, llm]
    marks.attempts.append(
        AttemptMark(
            llm.trace.span_id,
            "e" * 16,
            "primary",
            "openai",
            "gpt-4o-mini",
            "http://x/v1/chat/completions?key=sk-q",
            1_013 * MS,
            1_019 * MS,
            200,
            None,
        )
    )
    spans = build_spans(ctx, marks, BuildSettings(), 0)
    names = {s.name: s for s in spans}
    a = names["weather /v1/chat/completions"]
    assert a.service == Service.AGENT and a.parent_id == ctx.trace.span_id
    assert a.attributes["agent_id"] == "weather"
    hop = next(s for s in spans if s.span_id == llm.trace.span_id)
    assert hop.parent_id == a.span_id and hop.service == Service.LLM
    attempt = names["POST /v1/chat/completions gpt-4o-mini"]
    assert attempt.parent_id == llm.trace.span_id
    assert {s.trace_id for s in spans} == {T}


def test_content_when_configured() -> None:
    ctx = request_ctx()
    ctx.end_ns = 1_001 * MS
    assert ctx.spans is not None
    settings = BuildSettings(capture_content=True, content_max_chars=9)
    spans = build_spans(ctx, ctx.spans, settings, 0, output="the answer text")
    a = spans[0].attributes
    assert a["gen_ai.input.messages"] == "user: hel"
    assert a["gen_ai.output.messages"] == "the answe"


def test_header_prefixes_become_attributes() -> None:
    headers = {"X-Acme-Workspace-Id": "w1", "x-acme-": "empty name", "x-other": "no"}
    assert header_attributes(headers, ("x-acme-",)) == {"workspace.id": "w1"}
    assert header_attributes(headers, ()) == {}
