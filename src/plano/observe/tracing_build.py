"""A finished request's spans, built from its context and marks (pure: values in, values out).

Runs in the tracer's background batch, never on the request's task. The tree of one request::

    POST /v1/chat/completions                 plano(inbound)   server   the client's hop
      ├─ auth (on_headers), policy, my-filter plano(filter)    each filter that ran a phase
      ├─ routing                              plano(routing)            the plan, chosen route
      ├─ POST /v1/chat/completions gpt-4o     plano(llm)       client   attempt 1 (failed)
      ├─ POST /v1/messages claude             plano(llm)       client   attempt 2 (fallback)
      └─ <agent> /v1/chat/completions         plano(agent)              a hop it made
           └─ ... that hop's filters and attempts, the same way

Times come from ``perf_counter_ns``; ``offset`` turns them into Unix nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from plano.core.credentials import NEVER_COPIED
from plano.core.model import ChatRequest, Message, TextPart
from plano.core.trace import new_span_id
from plano.pipeline.context import ANONYMOUS, RequestContext
from plano.pipeline.marks import MARKER, QUIET_FILTERS, AttemptMark, FilterMark, TraceMarks
from plano.wire.shapes import ROUTES

from . import spans as k
from .spans import (
    KIND_CLIENT,
    KIND_INTERNAL,
    KIND_SERVER,
    STATUS_ERROR,
    STATUS_OK,
    Attrs,
    Service,
    Span,
    SpanEvent,
)

__all__ = ["BuildSettings", "build_spans", "header_attributes", "upstream_path"]

_SHAPE_PATH: Final = {shape: path for path, shape in reversed(ROUTES)}
_HOP_SERVICE: Final = {
    "client": Service.INBOUND,
    "agent": Service.AGENT,
    "llm": Service.LLM,
    "tool": Service.TOOL,
    "filter": Service.FILTER,
}
_PROVIDER_SYSTEM: Final = {"azure_openai": "azure.ai.openai", "gemini": "gcp.gemini"}


@dataclass(frozen=True, slots=True)
class BuildSettings:
    static: Mapping[str, str] = field(default_factory=dict)
    header_prefixes: tuple[str, ...] = ()
    capture_content: bool = False
    content_max_chars: int = 2000
    #: Span names of configured filters by id (``execute_raw_filter (<id>)`` for http...).
    filter_names: Mapping[str, str] = field(default_factory=dict)


def upstream_path(url: str) -> str:
    """The path of an upstream URL, never its query (Gemini's may hold the key)."""
    return urlsplit(url).path or "/"


def header_attributes(headers: Mapping[str, str], prefixes: tuple[str, ...]) -> Attrs:
    """Plano's ``span_attributes.header_prefixes``: ``x-acme-workspace-id`` under prefix
    ``x-acme-`` becomes ``workspace.id``."""
    out: Attrs = {}
    if not prefixes:
        return out
    for name, value in headers.items():
        low = name.lower()
        if low in NEVER_COPIED:  # whatever the prefix: a trace store is no place for keys
            continue
        for prefix in prefixes:
            if low.startswith(prefix) and len(low) > len(prefix):
                out[low[len(prefix) :].replace("-", ".")] = value[:256]
                break
    return out


def build_spans(
    ctx: RequestContext,
    marks: TraceMarks,
    settings: BuildSettings,
    offset: int,
    output: str | None = None,
) -> list[Span]:
    """Every span of ``ctx`` (the request's own hop) and the hops it made."""
    end = ctx.end_ns or (max((m.end_ns for m in marks.attempts), default=ctx.started_ns))
    filters: dict[str, list[FilterMark]] = {}
    for fm in marks.filters:
        filters.setdefault(fm.hop, []).append(fm)
    attempts: dict[str, list[AttemptMark]] = {}
    for am in marks.attempts:
        attempts.setdefault(am.hop, []).append(am)
    out: list[Span] = []
    for hop in (ctx, *marks.hops):
        sid = hop.trace.span_id
        hop_filters = filters.get(sid, [])
        hop_attempts = attempts.get(sid, [])
        # A span covers its children: the answering attempt's observers end it just after
        # the answer was sent.
        hop_end = max(
            hop.end_ns or end,
            max((m.end_ns for m in hop_attempts), default=0),
            max((m.end_ns for m in hop_filters), default=0),
        )
        top = _hop_span(hop, hop_end, settings, offset, output if hop is ctx else None)
        out.append(top)
        out += _filter_spans(hop, hop_filters, settings, offset)
        routing = _routing_span(hop, hop_filters, hop_attempts, hop_end, offset)
        if routing is not None:
            out.append(routing)
        out += _attempt_spans(hop, hop_attempts, offset)
    if settings.static:
        for s in out:
            s.attributes.update(settings.static)
    return out


def _hop_span(
    ctx: RequestContext, end: int, settings: BuildSettings, offset: int, output: str | None
) -> Span:
    path = _SHAPE_PATH.get(ctx.shape, "/")
    dep = ctx.deployment
    if ctx.hop == "agent":
        name = f"{ctx.agent_id or 'agent'} {path}"
    elif ctx.hop == "client":
        name = f"POST {path}"
    else:
        name = f"{ctx.hop} {ctx.agent_id or ctx.model_requested or ctx.request_id}"
    service = _HOP_SERVICE.get(ctx.hop, Service.OUTBOUND)
    a: Attrs = {
        k.SERVICE_OVERRIDE: service,
        k.HOP: ctx.hop,
        k.REQUEST_ID: ctx.request_id,
        k.HTTP_METHOD: "POST",
        k.URL_PATH: path,
        k.HTTP_STATUS: ctx.status,
    }
    if ctx.listener:
        a[k.LISTENER] = ctx.listener
    _principal(ctx, a)
    if ctx.session_id:
        a[k.SESSION] = ctx.session_id
    if ctx.agent_id:
        a[k.AGENT_ID] = ctx.agent_id
    if ctx.route:
        a[k.ROUTE] = ctx.route
    req = ctx.request
    # The request's span says what was asked and what answered, in short (the answering
    # attempt's span has every GenAI and Plano key: each attribute costs at export).
    if req is not None:
        a[k.GEN_AI_REQUEST_MODEL] = _model(req.model)
        a[k.LLM_STREAMING] = req.stream
    if dep is not None:
        a[k.GEN_AI_PROVIDER] = dep.provider
        a[k.GEN_AI_RESPONSE_MODEL] = dep.model_id
    if ctx.attempts:
        a[k.ATTEMPTS] = len(ctx.attempts)
    ttft = ctx.ttft_ms()
    if ttft is not None:
        a[k.LLM_TTFT] = round(ttft, 3)
    u = ctx.usage
    if u is not None:
        a[k.GEN_AI_INPUT_TOKENS] = u.input_tokens
        a[k.GEN_AI_OUTPUT_TOKENS] = u.output_tokens
        a[k.LLM_TOTAL_TOKENS] = u.input_tokens + u.output_tokens
    if ctx.cost is not None:
        a[k.LLM_COST] = float(ctx.cost)
    if ctx.hop == "client" and ctx.end_ns:
        a[k.OVERHEAD_MS] = round(ctx.overhead_ms(), 3)
    a.update(header_attributes(ctx.headers, settings.header_prefixes))
    if settings.capture_content and req is not None:
        a[k.GEN_AI_INPUT_MESSAGES] = _messages(req, settings.content_max_chars)
        if output:
            a[k.GEN_AI_OUTPUT_MESSAGES] = output[: settings.content_max_chars]
    status, message = STATUS_OK, None
    if ctx.error is not None or ctx.status >= 400:
        status = STATUS_ERROR
        label = ctx.error.metric_label if ctx.error is not None else str(ctx.status)
        a[k.ERROR_TYPE] = label
        message = ctx.error.message[:500] if ctx.error is not None else None
    events = [
        SpanEvent(
            k.DECISION,
            end + offset,
            {
                key: value
                for key, value in (
                    ("source", d.source),
                    ("action", d.action),
                    ("rule", d.rule),
                    ("reason", d.reason),
                )
                if value is not None
            },
        )
        for d in ctx.decisions
    ]
    return Span(
        ctx.trace.trace_id,
        ctx.trace.span_id,
        ctx.trace.parent_id,
        name,
        service,
        KIND_SERVER if ctx.hop == "client" else KIND_CLIENT,
        ctx.started_ns + offset,
        end + offset,
        status,
        message,
        a,
        events,
    )


def _principal(ctx: RequestContext, a: Attrs) -> None:
    p = ctx.principal
    if p is ANONYMOUS:
        return
    a[k.PRINCIPAL] = p.id
    a[k.PRINCIPAL_KIND] = p.kind
    for key, value in ((k.USER, p.user), (k.TEAM, p.team), (k.TENANT, p.tenant)):
        if value:
            a[key] = value


def _model(name: str) -> str:
    return name if len(name) <= 200 else name[:200] + "..."


def _request_attrs(req: ChatRequest, a: Attrs) -> None:
    a[k.GEN_AI_REQUEST_MODEL] = _model(req.model)
    a[k.GEN_AI_OPERATION] = "chat"
    a[k.LLM_STREAMING] = a[k.GEN_AI_STREAMING] = req.stream
    if req.max_tokens is not None:
        a[k.GEN_AI_MAX_TOKENS] = req.max_tokens
    if req.temperature is not None:
        a[k.LLM_TEMPERATURE] = a[k.GEN_AI_TEMPERATURE] = req.temperature
    if req.tools:
        a[k.LLM_TOOLS] = ",".join(t.name for t in req.tools[:32])


def _usage(ctx: RequestContext, a: Attrs) -> None:
    u = ctx.usage
    if u is not None:
        a[k.LLM_PROMPT_TOKENS] = a[k.GEN_AI_INPUT_TOKENS] = u.input_tokens
        a[k.LLM_COMPLETION_TOKENS] = a[k.GEN_AI_OUTPUT_TOKENS] = u.output_tokens
        a[k.LLM_TOTAL_TOKENS] = u.input_tokens + u.output_tokens
        if u.cache_read_tokens:
            a[k.LLM_CACHED_TOKENS] = a[k.GEN_AI_CACHE_READ] = u.cache_read_tokens
        if u.cache_write_tokens:
            a[k.LLM_CACHE_CREATION_TOKENS] = a[k.GEN_AI_CACHE_WRITE] = u.cache_write_tokens
        if u.reasoning_tokens:
            a[k.LLM_REASONING_TOKENS] = a[k.GEN_AI_REASONING] = u.reasoning_tokens
    if ctx.cost is not None:
        a[k.LLM_COST] = a[k.GEN_AI_COST] = float(ctx.cost)


def _messages(req: ChatRequest, cap: int) -> str:
    parts: list[str] = []
    size = 0
    for m in req.messages:
        text = _text(m)
        parts.append(f"{m.role}: {text}")
        size += len(text)
        if size >= cap:
            break
    return "\n".join(parts)[:cap]


def _text(m: Message) -> str:
    return "".join(p.text for p in m.content if isinstance(p, TextPart))


def _filter_spans(
    hop: RequestContext, marks: list[FilterMark], settings: BuildSettings, offset: int
) -> list[Span]:
    out: list[Span] = []
    for m in marks:
        if m.filter == MARKER or (m.filter in QUIET_FILTERS and m.error is None):
            continue
        a: Attrs = {
            k.SERVICE_OVERRIDE: Service.FILTER,
            k.FILTER_NAME: m.filter,
            k.FILTER_HOOK: m.hook,
        }
        if m.error is not None:
            a[k.ERROR_TYPE] = m.error
        name = settings.filter_names.get(m.filter, m.filter)
        out.append(
            Span(
                hop.trace.trace_id,
                m.span_id or new_span_id(),
                hop.trace.span_id,
                f"{name} {m.hook}",
                Service.FILTER,
                KIND_INTERNAL,
                m.start_ns + offset,
                m.end_ns + offset,
                STATUS_ERROR if m.error is not None else STATUS_OK,
                None,
                a,
            )
        )
    return out


def _routing_span(
    hop: RequestContext,
    filters: list[FilterMark],
    attempts: list[AttemptMark],
    end: int,
    offset: int,
) -> Span | None:
    """From the end of the request filters (the tracer's marker) to the first attempt."""
    start = next((m.end_ns for m in filters if m.filter == MARKER and m.hook == "on_request"), None)
    # No attempt and no error: a hop that called no model itself (an agent listener's).
    if start is None or hop.request is None or (not attempts and hop.error is None):
        return None
    stop = attempts[0].start_ns if attempts else end
    a: Attrs = {k.SERVICE_OVERRIDE: Service.ROUTING, k.GEN_AI_REQUEST_MODEL: hop.model_requested}
    if hop.route:
        a[k.ROUTING_ROUTE] = a[k.ROUTE] = hop.route
    if attempts:
        a[k.ROUTING_SELECTED] = attempts[0].model
        a[k.ROUTING_PROVIDER] = attempts[0].provider
        a[k.ROUTING_CANDIDATES] = ",".join(dict.fromkeys(m.deployment for m in attempts))
    failed = not attempts and hop.error is not None
    if failed and hop.error is not None:
        a[k.ERROR_TYPE] = hop.error.metric_label
    return Span(
        hop.trace.trace_id,
        _derived_id(hop.trace.span_id),
        hop.trace.span_id,
        "routing",
        Service.ROUTING,
        KIND_INTERNAL,
        start + offset,
        max(stop, start) + offset,
        STATUS_ERROR if failed else STATUS_OK,
        None,
        a,
    )


def _derived_id(span_id: str) -> str:
    """A stable id for a span that has no mark of its own (the routing step)."""
    return f"{(int(span_id, 16) ^ 0x5A5A5A5A5A5A5A5A) or 1:016x}"


def _attempt_spans(hop: RequestContext, marks: list[AttemptMark], offset: int) -> list[Span]:
    out: list[Span] = []
    last = len(marks) - 1
    for i, m in enumerate(marks):
        a: Attrs = {
            k.SERVICE_OVERRIDE: Service.LLM,
            k.LLM_PROVIDER: m.provider,
            k.GEN_AI_PROVIDER: m.provider,
            k.GEN_AI_SYSTEM: _PROVIDER_SYSTEM.get(m.provider, m.provider),
            k.LLM_MODEL: m.model,
            k.GEN_AI_REQUEST_MODEL: m.model,
            k.GEN_AI_OPERATION: "chat",
            k.DEPLOYMENT: m.deployment,
            k.ATTEMPT: i + 1,
            k.FALLBACK: i > 0,
            k.LLM_DURATION: round((m.end_ns - m.start_ns) / 1e6, 3),
            k.HTTP_STATUS: m.status,
        }
        if hop.request is not None:
            _request_attrs(hop.request, a)  # streaming, temperature, max tokens, tools
            a[k.GEN_AI_REQUEST_MODEL] = m.model  # what this provider was asked for
        answered = m.error is None
        if answered and i == last:
            a[k.GEN_AI_RESPONSE_MODEL] = m.model
            if hop.first_token_ns and hop.upstream_start_ns:
                ttft = (hop.first_token_ns - hop.upstream_start_ns) / 1e6
                a[k.LLM_TTFT] = a[k.GEN_AI_TTFT] = round(ttft, 3)
            _usage(hop, a)
        else:
            a[k.ERROR_TYPE] = m.error or "unknown"
        out.append(
            Span(
                hop.trace.trace_id,
                m.span_id,
                hop.trace.span_id,
                f"POST {upstream_path(m.url)} {m.model}",
                Service.LLM,
                KIND_CLIENT,
                m.start_ns + offset,
                m.end_ns + offset,
                STATUS_OK if answered else STATUS_ERROR,
                None if answered else m.error,
                a,
            )
        )
    return out
