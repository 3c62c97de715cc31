"""The tracing: section: Plano's keys and ours, checked once with paths."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import check_config
from plano.config.tracing import Tracing


def _check(base: dict[str, Any], tracing: dict[str, Any]) -> tuple[Any, list[str]]:
    base["tracing"] = tracing
    config, issues = check_config(base, {})
    return config, [str(i) for i in issues if i.severity == "error"]


def test_planos_keys_and_ours(base: dict[str, Any]) -> None:
    config, errors = _check(
        base,
        {
            "random_sampling": 25,
            "opentracing_grpc_endpoint": "http://collector:4317",
            "span_attributes": {"header_prefixes": ["X-Acme-"], "static": {"env": "prod"}},
            "trace_arch_internal": True,
            "otlp_http_endpoint": "https://cloud.langfuse.com/api/public/otel",
            "otlp_headers": {"authorization": "Basic abc"},
            "capture_content": True,
            "recent": {"keep": 50, "max_age": "1h"},
        },
    )
    assert errors == []
    t = config.tracing
    assert t.random_sampling == 25 and t.span_attributes.header_prefixes == ["x-acme-"]
    assert t.otlp_http_endpoint == "https://cloud.langfuse.com/api/public/otel"
    assert t.recent.max_age == 3600.0
    assert t.grpc_endpoint(None) == "http://collector:4317"


@pytest.mark.parametrize(
    ("tracing", "message"),
    [
        ({"random_sampling": 101}, "tracing.random_sampling"),
        ({"opentracing_grpc_endpoint": "collector:4317"}, "not an http:// or https:// URL"),
        ({"opentracing_grpc_endpoint": "http://c:4317/v1"}, "host and port, no path"),
        ({"otlp_http_endpoint": "ftp://c"}, "tracing.otlp_http_endpoint"),
        ({"recent": {"keep": -1}}, "tracing.recent.keep"),
        ({"queue_size": 10, "batch_size": 20}, "batch_size cannot exceed"),
        ({"span_attributes": {"header_prefixes": [" "]}}, "header prefix cannot be empty"),
        ({"sampling": 5}, "unknown key 'sampling' (did you mean 'random_sampling'?)"),
    ],
)
def test_mistakes_are_reported_with_their_path(
    base: dict[str, Any], tracing: dict[str, Any], message: str
) -> None:
    config, errors = _check(base, tracing)
    assert config is None and any(message in e for e in errors), errors


def test_defaults_follow_plano() -> None:
    t = Tracing()
    assert t.random_sampling == 100 and t.capture_content is False
    # Plano's default collector, unless the environment or an HTTP endpoint says otherwise
    assert t.grpc_endpoint(None) == "http://localhost:4317"
    assert t.grpc_endpoint("http://env:4317") == "http://env:4317"
    http = Tracing(otlp_http_endpoint="http://c:4318")
    assert http.otlp_http_endpoint == "http://c:4318/v1/traces"
    assert http.grpc_endpoint(None) is None
    assert Tracing(otlp_export=False).grpc_endpoint("http://env:4317") is None
