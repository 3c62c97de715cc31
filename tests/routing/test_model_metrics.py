"""model_metrics_sources as plain data: the parsers (Prometheus, DigitalOcean, models.dev), a
source's state across good and failed fetches, and the router reading the values for
``prefer: cheapest / fastest`` and the ``lowest_metric`` pool strategy."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest
from tests.routing.smart_support import ctx, names, request, router

from plano.routing.model_metrics import (
    MetricTable,
    SourceState,
    carried,
    parse_digitalocean,
    parse_models_dev,
    parse_prometheus,
    with_state,
)
from plano.routing.router import Plan


def vector(*samples: tuple[dict[str, str], Any]) -> dict[str, Any]:
    result = [{"metric": m, "value": [1700000000.0, v]} for m, v in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_prometheus_samples_by_label_skipping_bad_values() -> None:
    body = vector(
        ({"model_name": "openai/gpt-4o"}, "0.8"),
        ({"model_name": "mini-a"}, "0.2"),
        ({"model_name": "nan-model"}, "NaN"),
        ({"other": "x"}, "1"),
        ({"model_name": "alias-me"}, "0.5"),
    )
    got = parse_prometheus(body, "model_name", {"alias-me": "mini-b"})
    assert got == {"openai/gpt-4o": 0.8, "mini-a": 0.2, "mini-b": 0.5}
    assert parse_prometheus(vector(({"model": "m"}, "3")), "model", {}) == {"m": 3.0}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "error", "error": "parse error at char 3"},
        {"status": "success", "data": {}},
        ["not", "an", "object"],
    ],
)
def test_prometheus_errors_raise(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_prometheus(body, "model_name", {})


def test_digitalocean_per_token_prices_become_per_million() -> None:
    body = {
        "data": [
            {
                "model_id": "openai-gpt-4o",
                "pricing": {"input_price_per_million": 2.5e-6, "output_price_per_million": 1e-5},
            },
            {"model_id": "no-pricing"},
        ]
    }
    got = parse_digitalocean(body, "", {"openai-gpt-4o": "openai/gpt-4o"})
    assert got == {"openai/gpt-4o": pytest.approx(12.5)}


def test_models_dev_keys_provider_slash_model_and_bare_ids() -> None:
    body = {
        "openai": {"models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10}}}},
        "azure": {"models": {"gpt-4o": {"cost": {"input": 3, "output": 12}}}},
        "anthropic": {"models": {"claude-x": {"cost": {"input": 3}}}},  # no output: skipped
    }
    got = parse_models_dev(body, "", {})
    assert got["openai/gpt-4o"] == 12.5 and got["azure/gpt-4o"] == 15
    assert got["gpt-4o"] in (12.5, 15) and "anthropic/claude-x" not in got


def state(interval: float = 10.0) -> SourceState:
    return SourceState("latency", "latency", "prometheus", "http://prom", interval)


def test_a_failed_fetch_keeps_the_last_good_values() -> None:
    s = state().succeeded({"a": 1.0}, now=100.0)
    s = s.failed("connection refused", now=110.0).failed("connection refused", now=120.0)
    assert dict(s.values) == {"a": 1.0} and s.usable and s.failures == 2
    status = s.status(now=125.0)
    assert status["age_s"] == 25.0 and status["fresh"] is False
    assert status["consecutive_failures"] == 2 and status["last_error"] == "connection refused"
    s = s.succeeded({"a": 2.0}, now=130.0)
    assert s.failures == 0 and s.error is None and s.status(131.0)["fresh"] is True


def test_never_answered_is_not_usable() -> None:
    s = state().failed("down", now=1.0)
    assert not s.usable and s.status(2.0)["age_s"] is None


def test_reload_carries_values_of_the_same_source_only() -> None:
    old = with_state(MetricTable(), state().succeeded({"a": 1.0}, now=5.0))
    same = carried([state(interval=30.0)], old)
    assert dict(same.sources["latency"].values) == {"a": 1.0}
    assert same.sources["latency"].interval == 30.0
    moved = SourceState("latency", "latency", "prometheus", "http://other", 10.0)
    assert carried([moved], old).sources["latency"].values == {}


class View:
    def __init__(self) -> None:
        self.t = MetricTable()

    def set(self, key: str, values: dict[str, float]) -> None:
        kind = key if key in ("cost", "latency") else "custom"
        s = SourceState(key, kind, "prometheus", "http://prom", 10.0)
        self.t = with_state(self.t, s.succeeded(values, now=1.0))

    def table(self) -> MetricTable:
        return self.t

    def status(self) -> list[dict[str, Any]]:
        return self.t.status(2.0)


PREFS = [
    {
        "name": "code",
        "description": "writing code",
        "models": ["openai/gpt-4o", "mini-a", "groq/llama-3.3-70b-versatile"],
        "selection_policy": {"prefer": "fastest"},
    },
    {
        "name": "chat",
        "description": "small talk",
        "models": ["openai/gpt-4o", "mini-a"],
        "selection_policy": {"prefer": "cheapest"},
    },
]


async def routed(r: Any, route: str) -> list[str]:
    r.chooser = None
    r.preference = type(r.preference)(default_route=route)
    p = r.plan(ctx(request("mini-b", "hi")))
    plan = p if isinstance(p, Plan) else await p
    return names(plan)


async def test_prefer_fastest_follows_the_latency_source() -> None:
    view = View()
    r = router(routing_preferences=PREFS)
    r.metrics = view
    view.set("latency", {"openai/gpt-4o": 0.9, "mini-a": 0.3})
    # Unknown to the source: last (Plano's rule).
    assert await routed(r, "code") == ["mini-a", "openai/gpt-4o", "groq/llama-3.3-70b-versatile"]
    view.set("latency", {"openai/gpt-4o": 0.1, "mini-a": 0.3, "llama-3.3-70b-versatile": 0.2})
    assert await routed(r, "code") == ["openai/gpt-4o", "groq/llama-3.3-70b-versatile", "mini-a"]


async def test_prefer_cheapest_follows_the_cost_source_else_bundled_prices() -> None:
    view = View()
    r = router(routing_preferences=PREFS)
    r.metrics = view
    # No cost source has answered: the bundled prices (gpt-4o-mini is cheaper).
    assert await routed(r, "chat") == ["mini-a", "openai/gpt-4o"]
    view.set("cost", {"openai/gpt-4o": 0.1, "gpt-4o-mini": 5.0})  # bare id matches too
    assert await routed(r, "chat") == ["openai/gpt-4o", "mini-a"]


async def test_lowest_metric_pool_strategy() -> None:
    view = View()
    r = router(
        model_pools={
            "auto": {
                "strategy": "lowest_metric",
                "metric": "queue_depth",
                "deployments": ["mini-a", "mini-b", "openai/gpt-4o"],
            }
        },
        model_metrics_sources=[
            {
                "type": "custom",
                "name": "queue_depth",
                "provider": "prometheus",
                "url": "http://prom",
                "query": "q",
            }
        ],
    )
    r.metrics = view
    view.set("queue_depth", {"mini-b": 3.0, "openai/gpt-4o": 1.0})
    plan = r.plan(ctx(request("auto")))
    assert isinstance(plan, Plan) and names(plan) == ["openai/gpt-4o", "mini-b", "mini-a"]
    view.set("queue_depth", {"mini-a": 0.0, "mini-b": 3.0, "openai/gpt-4o": 9.0})
    plan = r.plan(ctx(request("auto")))
    assert isinstance(plan, Plan) and names(plan) == ["mini-a", "mini-b", "openai/gpt-4o"]


def test_routing_status_lists_the_sources() -> None:
    view = View()
    view.set("latency", {"a": 1.0})
    r = router()
    r.metrics = view
    (source,) = r.status()["metrics_sources"]  # type: ignore[misc]
    assert source["metric"] == "latency" and source["models"] == 1 and source["fresh"]
    assert math.isclose(source["age_s"], 1.0)


def test_mappingproxy_values_are_read_only() -> None:
    s = state().succeeded({"a": 1.0}, now=1.0)
    assert isinstance(s.values, MappingProxyType)
