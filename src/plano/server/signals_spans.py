"""Agentic signals on traces: the span enricher that puts a request's signals on its spans,
in the tracer's batch thread (``plano.observe.tracing``), under Plano's keys
(:func:`plano.signals.signals_attributes`, one ``signal.<type>`` event per instance) and
with Plano's flag (🚩) at the end of a flagged span's name.

The span is the request's answering LLM call (the last ``plano(llm)`` span), else the
request's own span. The report is the desk's if it is ready, else analysed right there
(and counted once either way): signals never wait for, nor delay, the export.
"""

from __future__ import annotations

from plano.filters.signals import signals_report
from plano.observe.spans import Service, Span, SpanEvent
from plano.observe.tracing import add_span_enricher
from plano.pipeline.context import RequestContext
from plano.signals import signals_attributes, signals_events
from plano.signals.attributes import FLAG_MARKER

__all__ = ["enrich_spans", "install"]


def enrich_spans(ctx: RequestContext, spans: list[Span]) -> None:
    if not spans:
        return
    report = signals_report(ctx)
    if report is None:
        return
    span = next((s for s in reversed(spans) if s.service == Service.LLM), spans[0])
    span.attributes.update(signals_attributes(report))
    span.events += [SpanEvent(name, span.end_ns, attrs) for name, attrs in signals_events(report)]
    if report.flagged and not span.name.endswith(FLAG_MARKER):
        span.name = f"{span.name} {FLAG_MARKER}"


def install() -> None:
    """Register :func:`enrich_spans` for every tracer of this process (once)."""
    add_span_enricher(enrich_spans)
