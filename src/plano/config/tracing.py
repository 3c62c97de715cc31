"""The ``tracing:`` section: Plano's keys (``random_sampling``, ``opentracing_grpc_endpoint``,
``span_attributes``, ``trace_arch_internal``) and ours beside them (an OTLP/HTTP endpoint,
exporter headers, message content capture, the recent traces the gateway keeps, the export
queue). Validated once at start-up; ``plano.observe`` reads nothing else."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration

__all__ = ["RecentTraces", "SpanAttributes", "Tracing"]


class SpanAttributes(ConfigModel):
    header_prefixes: list[str] = Field(
        default_factory=list,
        description="Request headers with these prefixes become span attributes "
        "(x-acme-workspace-id with prefix x-acme- becomes workspace.id).",
    )
    static: dict[str, str] = Field(
        default_factory=dict, description="Attributes added to every span."
    )

    @field_validator("header_prefixes")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not prefix.strip():
                raise ValueError("a header prefix cannot be empty")
        return [p.strip().lower() for p in value]


class RecentTraces(ConfigModel):
    """Traces the gateway keeps itself (durable store, shared by workers): ``plano trace`` and
    ``/plano/v1/traces`` need no collector."""

    keep: int = Field(default=1000, ge=0, description="Most traces kept (0: none).")
    max_age: Duration = Field(default=24 * 3600.0, gt=0, description="Oldest trace kept.")
    max_per_second: int = Field(
        default=50,
        ge=1,
        description="Traces a worker adds per second at most (failed requests first); the "
        "collector still gets every sampled trace. Bounds the store's cost under load.",
    )


def _check_url(value: str, *, path: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError as exc:
        raise ValueError(f"{value!r} has an invalid port") from exc
    if not path and parts.path not in ("", "/"):
        raise ValueError(f"{value!r}: an OTLP/gRPC endpoint is host and port, no path")
    return value


class Tracing(ConfigModel):
    random_sampling: int = Field(
        default=100,
        ge=0,
        le=100,
        description="Percentage of requests traced (a client's traceparent decides for its own "
        "requests: sampled or not).",
    )
    trace_arch_internal: bool = Field(
        default=False,
        description="Also trace the gateway's own calls (the routing model, health probes).",
    )
    opentracing_grpc_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC collector, http://host:port (default: $OTEL_TRACING_GRPC_ENDPOINT, "
        "else http://localhost:4317, unless otlp_http_endpoint is set).",
    )
    span_attributes: SpanAttributes | None = Field(
        default=None, description="Extra span attributes."
    )
    exporters: list[dict[str, Any]] = Field(
        default_factory=list, description="Additional exporters (e.g. posthog)."
    )
    otlp_http_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector (protobuf), e.g. http://localhost:4318/v1/traces "
        "(ours; /v1/traces is added when there is no path).",
    )
    otlp_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers sent with every export (ours), e.g. authorization for Langfuse; "
        "write secrets as $VAR.",
    )
    otlp_export: bool = Field(
        default=True,
        description="Export to an OTLP collector (ours); false keeps traces in the gateway only.",
    )
    capture_content: bool = Field(
        default=False,
        description="Put message content on LLM spans (ours; after the PII filter when it is on).",
    )
    content_max_chars: int = Field(
        default=2000, ge=1, description="Characters of message content kept per span."
    )
    recent: RecentTraces = Field(
        default_factory=RecentTraces, description="Traces the gateway keeps (ours)."
    )
    queue_size: int = Field(
        default=8192,
        ge=1,
        description="Spans waiting for export; past it new ones are dropped and counted (ours).",
    )
    batch_size: int = Field(default=512, ge=1, description="Spans per export call (ours).")
    export_interval: Duration = Field(
        default=1.0, gt=0, description="Longest wait before a partial batch is exported (ours)."
    )
    export_timeout: Duration = Field(
        default=10.0, gt=0, description="Time limit of one export call (ours)."
    )

    @field_validator("opentracing_grpc_endpoint")
    @classmethod
    def _grpc(cls, value: str | None) -> str | None:
        # Empty (an unset $VAR, already warned about): the default applies.
        return None if not value else _check_url(value, path=False)

    @field_validator("otlp_http_endpoint")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if not value:
            return None
        _check_url(value, path=True)
        return value if urlsplit(value).path not in ("", "/") else value.rstrip("/") + "/v1/traces"

    @model_validator(mode="after")
    def _batch_fits(self) -> Tracing:
        if self.batch_size > self.queue_size:
            raise ValueError("tracing.batch_size cannot exceed tracing.queue_size")
        return self

    def grpc_endpoint(self, env_default: str | None) -> str | None:
        """Where spans go over gRPC: the key, else (no HTTP endpoint either) the environment's
        ``OTEL_TRACING_GRPC_ENDPOINT`` (``env_default``), else Plano's default."""
        if not self.otlp_export:
            return None
        if self.opentracing_grpc_endpoint:
            return self.opentracing_grpc_endpoint
        if self.otlp_http_endpoint:
            return None
        return env_default or "http://localhost:4317"
