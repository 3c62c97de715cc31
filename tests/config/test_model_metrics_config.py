"""model_metrics_sources in the config: Plano's shapes (cost from digitalocean / models.dev,
latency from Prometheus), our custom metrics and pool strategy, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import check_config

PROVIDERS = [
    {"model": "openai/gpt-4o", "access_key": "k"},
    {"model": "openai/gpt-4o-mini", "access_key": "k"},
]
PROM = {"provider": "prometheus", "url": "http://prom:9090", "query": "up"}


def errors(**extra: Any) -> list[str]:
    raw = {"version": "v0.4.0", "model_providers": PROVIDERS, **extra}
    _, issues = check_config(raw, {})
    return [str(i) for i in issues if i.severity == "error"]


def test_plano_shapes_validate() -> None:
    sources = [
        {"type": "cost", "provider": "models.dev", "refresh_interval": 86400},
        {"type": "latency", **PROM, "refresh_interval": 60},
    ]
    assert errors(model_metrics_sources=sources) == []
    aliases = {"openai/openai-gpt-oss-120b": "openai/gpt-4o"}
    digitalocean = {"type": "cost", "provider": "digitalocean", "model_aliases": aliases}
    assert errors(model_metrics_sources=[digitalocean]) == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "latency", "provider": "prometheus", "url": "http://p"}, "needs both url"),
        ({"type": "cost", **PROM}, "provider is digitalocean or models.dev"),
        ({"type": "latency", "provider": "models.dev"}, "provider is prometheus"),
        ({"type": "custom", **PROM}, "needs a name"),
        ({"type": "custom", "name": "cost", **PROM}, "is a source type"),
    ],
)
def test_refused_sources(source: dict[str, Any], message: str) -> None:
    (error,) = errors(model_metrics_sources=[source])
    assert error.startswith("model_metrics_sources[0]") and message in error


def test_one_cost_and_one_latency_source_like_plano() -> None:
    sources = [{"type": "latency", **PROM}, {"type": "latency", **PROM}]
    (error,) = errors(model_metrics_sources=sources)
    assert "only one latency metrics source" in error


def test_lowest_metric_pool_names_a_custom_source() -> None:
    pool = {"strategy": "lowest_metric", "metric": "queue", "deployments": ["openai/gpt-4o"]}
    custom = {"type": "custom", "name": "queue", **PROM}
    assert errors(model_pools={"auto": pool}, model_metrics_sources=[custom]) == []
    (error,) = errors(model_pools={"auto": pool}, model_metrics_sources=[])
    assert error.startswith("model_pools.auto.metric") and "not a custom" in error
    del pool["metric"]
    (error,) = errors(model_pools={"auto": pool}, model_metrics_sources=[custom])
    assert "needs a metric" in error
