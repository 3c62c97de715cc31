"""Plano keys we accept but do not act on yet are reported, never silently ignored."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import UNSUPPORTED, ConfigIssue, check_config, find_unsupported


def _unsupported(data: dict[str, Any]) -> list[str]:
    config, issues = check_config(data, {})
    assert config is not None, [str(issue) for issue in issues]
    assert all(
        issue.message == "accepted, not supported yet"
        for issue in issues
        if issue.severity == "unsupported"
    )
    return [issue.path for issue in issues if issue.severity == "unsupported"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("endpoints", {"api": {"endpoint": "api:80"}}),
        ("prompt_targets", [{"name": "t", "description": "d"}]),
        ("prompt_caching", {"enabled": True}),
        ("system_prompt", "be nice"),
        ("mode", "llm"),
        ("prompt_guards", {"input_guards": {"jailbreak": {"on_exception": {"message": "no"}}}}),
    ],
)
def test_top_level_sections(base: dict[str, Any], key: str, value: object) -> None:
    base[key] = value
    assert _unsupported(base) == [key]


def test_routing_preferences_and_session_keys_are_supported(base: dict[str, Any]) -> None:
    base["routing_preferences"] = [{"name": "c", "description": "d", "models": ["openai/gpt-4o"]}]
    base["routing"] = {"session_ttl_seconds": 60, "session_max_entries": 100}
    assert _unsupported(base) == []


def test_routing_budget_is_not_but_session_cache_is(base: dict[str, Any]) -> None:
    cache = {"type": "redis", "url": "redis://cache:6379/0", "tenant_header": "x-tenant"}
    base["routing"] = {"session_ttl_seconds": 60, "routing_budget": 5, "session_cache": cache}
    assert _unsupported(base) == ["routing.routing_budget"]


def test_overrides_except_upstream_connect_timeout(base: dict[str, Any]) -> None:
    base["overrides"] = {
        "upstream_connect_timeout": "3s",
        "llm_routing_model": "router",
        "disable_signals": True,  # supported: agentic signals (docs/signals.md)
        "prompt_target_intent_matching_threshold": 0.5,
    }
    assert _unsupported(base) == ["overrides.prompt_target_intent_matching_threshold"]


def test_overrides_with_only_connect_timeout_is_supported(base: dict[str, Any]) -> None:
    base["overrides"] = {"upstream_connect_timeout": "3s"}
    assert _unsupported(base) == []


def test_agent_and_prompt_listeners(base: dict[str, Any]) -> None:
    base["agents"] = [{"id": "x", "url": "http://127.0.0.1:9"}]
    base["listeners"] += [
        {"type": "agent", "name": "a", "port": 8001, "agents": [{"id": "x", "description": "y"}]},
        {"type": "prompt", "name": "p", "port": 10000},
    ]
    assert _unsupported(base) == ["listeners[2]"]  # agent listeners: docs/agents.md


def test_model_listener_filters_are_supported_the_router_is_not(base: dict[str, Any]) -> None:
    base["filters"] = [
        {"id": "pii", "url": "http://127.0.0.1:9000"},
        {"id": "audit", "type": "http", "url": "http://127.0.0.1:9001"},
    ]
    base["listeners"][0].update(
        {"input_filters": ["pii"], "output_filters": ["audit"], "router": "plano_orchestrator_v1"}
    )
    assert _unsupported(base) == ["listeners[0].router"]


def test_agent_listener_filters_are_supported(base: dict[str, Any]) -> None:
    base["agents"] = [{"id": "x", "url": "http://127.0.0.1:9"}]
    base["filters"] = [{"id": "pii", "url": "http://127.0.0.1:9000"}]
    agent = {"id": "x", "description": "y", "input_filters": ["pii"]}
    base["listeners"].append({"type": "agent", "name": "a", "port": 8001, "agents": [agent]})
    assert _unsupported(base) == []


def test_legacy_ingress_listener(base: dict[str, Any]) -> None:
    base["listeners"] = {"ingress_traffic": {"port": 10000}, "egress_traffic": {"port": 12000}}
    assert _unsupported(base) == ["listeners.ingress_traffic"]


def test_provider_http_host_and_inline_routes(base: dict[str, Any]) -> None:
    base["model_providers"][0]["http_host"] = "api.openai.com"
    base["llm_providers"] = [
        {
            "model": "openai/gpt-4o-mini",
            "routing_preferences": [{"name": "chat", "description": "small talk"}],
        }
    ]
    assert _unsupported(base) == ["model_providers[0].http_host"]


def test_empty_sections_are_not_reported(base: dict[str, Any]) -> None:
    base.update({"agents": [], "endpoints": {}, "tracing": None})
    base["listeners"][0]["input_filters"] = []
    assert _unsupported(base) == []


def test_supported_keys_are_not_reported(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"smart": {"target": "openai/gpt-4o"}}
    base["gateway"] = {"workers": 2}
    base["listeners"][0]["timeout"] = "30s"
    assert _unsupported(base) == []


def test_table_is_data_removing_a_row_stops_the_report(
    base: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import plano.config.unsupported as unsupported

    table = dict(unsupported.UNSUPPORTED)
    del table["prompt_caching"]
    monkeypatch.setattr(unsupported, "UNSUPPORTED", table)
    issues = find_unsupported({"prompt_caching": {"enabled": True}, "endpoints": {"a": {}}})
    assert issues == [ConfigIssue("endpoints", "accepted, not supported yet", "unsupported")]


def test_table_lists_every_unsupported_plano_section() -> None:
    for key in (
        "endpoints",
        "prompt_targets",
        "routing",
        "prompt_caching",
        "overrides",
        "tracing.exporters",
    ):
        assert UNSUPPORTED[key] is True
    assert "tracing" not in UNSUPPORTED  # tracing works; only its extra exporters do not
    assert UNSUPPORTED["overrides.upstream_connect_timeout"] is False
    assert "routing_preferences" not in UNSUPPORTED
    assert "model_metrics_sources" not in UNSUPPORTED  # routing reads them (model-metrics.md)
    assert "filters" not in UNSUPPORTED


def test_unsupported_is_reported_even_with_warnings(base: dict[str, Any]) -> None:
    base["tracing"] = {"opentracing_grpc_endpoint": "$OTEL", "exporters": [{"type": "posthog"}]}
    _, issues = check_config(base, {})
    assert [(issue.severity, str(issue)) for issue in issues] == [
        ("warning", "tracing.opentracing_grpc_endpoint: environment variable OTEL is not set"),
        ("unsupported", "tracing.exporters: accepted, not supported yet"),
    ]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_state_storage_of_every_type_is_supported(base: dict[str, Any], kind: str) -> None:
    base["state_storage"] = {"type": kind, "connection_string": "postgres://db/x"}
    assert _unsupported(base) == []
