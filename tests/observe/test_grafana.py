"""The Grafana dashboard in deploy/grafana/plano.json asks only for metrics the gateway
exports, by labels those metrics have."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from plano.config import check_config
from plano.observe.metrics import Histogram, MetricsRegistry
from plano.server.runner import build_gateway

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "plano.json"
NAME = re.compile(r"\bplano_[a-z_]+\b")
BY = re.compile(r"\bby \(([^)]*)\)")
MATCHER = re.compile(r"\{([^}]*)\}")


def exported() -> MetricsRegistry:
    """The registry of a gateway runtime, every collector installed (one global budget, so
    nothing is left out)."""
    raw = {
        "version": "v0.4.0",
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k", "default": True}],
        "budgets": [{"name": "all", "scope": "global", "period": "day", "usd": 10}],
    }
    config, issues = check_config(raw, {})
    assert config is not None, issues
    gateway = build_gateway(config)
    owner: Any = gateway.lifecycle
    registry: MetricsRegistry = owner.resources.metrics.metrics.registry
    return registry


def series_names(registry: MetricsRegistry) -> dict[str, set[str]]:
    """Every sample name the exposition can have, with its label names."""
    out: dict[str, set[str]] = {}
    for name, family in registry.families.items():
        labels = set(family.labelnames)
        if isinstance(family, Histogram):
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


def expressions() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_every_expression_names_exported_metrics_and_their_labels() -> None:
    names = series_names(exported())
    exprs = expressions()
    assert len(exprs) >= 20
    used: set[str] = set()
    for expr in exprs:
        metrics = set(NAME.findall(expr))
        assert metrics, expr
        unknown = metrics - set(names)
        assert not unknown, f"{expr}: {unknown} are not exported"
        used |= metrics
        labels = set().union(*(names[m] for m in metrics))
        for group in BY.findall(expr):
            for label in (g.strip() for g in group.split(",")):
                assert label in labels, f"{expr}: no label {label!r}"
        for matcher in MATCHER.findall(expr):
            for label in re.findall(r"([a-z_]+)\s*[=!~]", matcher):
                assert label in labels, f"{expr}: no label {label!r}"
    families = {n.removesuffix("_bucket") for n in used}
    # The dashboard shows the gateway's own families (the router's are optional extras).
    assert {
        "plano_requests_total", "plano_request_duration_seconds", "plano_requests_in_flight",
        "plano_upstream_attempts_total", "plano_upstream_duration_seconds",
        "plano_time_to_first_token_seconds", "plano_tokens_total", "plano_cost_usd_total",
        "plano_fallbacks_total", "plano_breaker_state", "plano_decisions_total",
        "plano_budget_used_usd", "plano_store_up",
    } <= families  # fmt: skip


def test_the_dashboard_imports_with_a_datasource_input() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert dash["uid"] == "plano-gateway"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
