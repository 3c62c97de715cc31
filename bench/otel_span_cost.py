"""The OpenTelemetry SDK's cost per span on this machine, against the plain values Plano
records on the hot path (``python -m bench.otel_span_cost``). Informs docs/tracing.md: past a
few microseconds per span the SDK stays off the request path."""

from __future__ import annotations

import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from plano.core.trace import new_span_id

N = 50_000


class _Null(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


def _sdk() -> float:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Null(), max_queue_size=N * 2))
    tracer = provider.get_tracer("bench")
    attrs = {"gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai", "llm.is_streaming": True}
    t0 = time.perf_counter()
    for _ in range(N):
        with tracer.start_as_current_span("POST /v1/chat/completions gpt-4o") as s:
            s.set_attributes(attrs)
            s.set_attribute("gen_ai.usage.input_tokens", 12)
    dt = time.perf_counter() - t0
    provider.shutdown()
    return dt / N * 1e6


def _plain() -> float:
    out: list[tuple[object, ...]] = []
    t0 = time.perf_counter()
    for _ in range(N):
        start = time.perf_counter_ns()
        sid = new_span_id()
        out.append(("llm", "POST /v1/chat/completions gpt-4o", sid, start, time.perf_counter_ns()))
    dt = time.perf_counter() - t0
    return dt / N * 1e6


def main() -> None:
    _sdk(), _plain()  # warm up
    sdk = min(_sdk() for _ in range(3))
    plain = min(_plain() for _ in range(3))
    print(f"OpenTelemetry SDK span (start, 4 attributes, end, batch processor): {sdk:.2f} us")
    print(f"plain span value (id, two clock reads, one tuple):                  {plain:.2f} us")


if __name__ == "__main__":
    main()
