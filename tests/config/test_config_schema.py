"""What validation normalises, and the values the runtime reads."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import PlanoConfig, check_config


def _valid(data: dict[str, Any]) -> PlanoConfig:
    config, issues = check_config(data, {})
    assert config is not None, [str(issue) for issue in issues]
    return config


def test_list_listener_defaults(base: dict[str, Any]) -> None:
    listener = _valid(base).listeners[0]
    assert (listener.type, listener.name, listener.port) == ("model", "llm", 12000)
    assert listener.address == "127.0.0.1"  # loopback unless the config says otherwise
    assert listener.timeout == 300.0
    assert listener.source_path == "listeners[0]"
    assert not listener.implicit


@pytest.mark.parametrize(("written", "seconds"), [("300s", 300.0), ("5m", 300.0), (90, 90.0)])
def test_listener_timeout_is_float_seconds(
    base: dict[str, Any], written: object, seconds: float
) -> None:
    base["listeners"][0]["timeout"] = written
    assert _valid(base).listeners[0].timeout == seconds


def test_model_listener_added_when_none_declared(base: dict[str, Any]) -> None:
    del base["listeners"]
    config = _valid(base)
    assert len(config.listeners) == 1
    listener = config.model_listener
    assert (listener.type, listener.port, listener.timeout) == ("model", 12000, 300.0)
    assert listener.implicit


def test_model_listener_added_beside_an_agent_listener(base: dict[str, Any]) -> None:
    base["listeners"] = [{"type": "agent", "name": "agents", "port": 8001}]
    config = _valid(base)
    assert [(entry.type, entry.port) for entry in config.listeners] == [
        ("agent", 8001),
        ("model", 12000),
    ]
    assert config.model_listener.implicit


def test_declared_model_listener_is_not_duplicated(base: dict[str, Any]) -> None:
    base["listeners"][0]["port"] = 9000
    config = _valid(base)
    assert [entry.port for entry in config.listeners] == [9000]


def test_legacy_mapping_becomes_a_model_listener(base: dict[str, Any]) -> None:
    base["listeners"] = {
        "egress_traffic": {
            "address": "127.0.0.1",
            "port": 12001,
            "message_format": "openai",
            "timeout": "45s",
        }
    }
    config = _valid(base)
    [listener] = config.listeners
    assert (listener.type, listener.name, listener.address) == (
        "model",
        "egress_traffic",
        "127.0.0.1",
    )
    assert (listener.port, listener.timeout) == (12001, 45.0)
    assert listener.source_path == "listeners.egress_traffic"
    assert not listener.implicit


def test_legacy_defaults_follow_plano_but_bind_loopback(base: dict[str, Any]) -> None:
    base["listeners"] = {"egress_traffic": {}}
    [listener] = _valid(base).listeners
    assert (listener.port, listener.address, listener.timeout) == (12000, "127.0.0.1", 30.0)
    base["listeners"] = {"egress_traffic": {"address": "0.0.0.0"}}
    assert _valid(base).listeners[0].address == "0.0.0.0"  # Plano's key still decides


def test_legacy_ingress_becomes_prompt_listener_and_egress_is_always_derived(
    base: dict[str, Any],
) -> None:
    base["listeners"] = {"ingress_traffic": {"port": 10001}}
    config = _valid(base)
    assert [(entry.type, entry.name, entry.port) for entry in config.listeners] == [
        ("model", "egress_traffic", 12000),
        ("prompt", "ingress_traffic", 10001),
    ]
    assert config.listeners[0].implicit
    assert config.listeners[1].source_path == "listeners.ingress_traffic"


def test_llm_providers_merge_into_model_providers_with_their_paths(base: dict[str, Any]) -> None:
    base["llm_providers"] = [{"model": "anthropic/claude-3-5-haiku-latest", "access_key": "k"}]
    config, issues = check_config(base, {})
    assert config is not None
    assert [p.model for p in config.model_providers] == [
        "openai/gpt-4o",
        "anthropic/claude-3-5-haiku-latest",
    ]
    assert [p.source_path for p in config.model_providers] == [
        "model_providers[0]",
        "llm_providers[0]",
    ]
    assert config.llm_providers == []
    assert config.used_llm_providers
    assert [(str(i), i.severity) for i in issues] == [
        ("llm_providers: deprecated; rename it to model_providers", "warning")
    ]


def test_no_deprecation_warning_without_llm_providers(base: dict[str, Any]) -> None:
    config, issues = check_config(base, {})
    assert config is not None
    assert not config.used_llm_providers
    assert issues == []


def test_provider_properties(base: dict[str, Any]) -> None:
    base["model_providers"] = [
        {"model": "openai/gpt-4o"},
        {"model": "openrouter/meta-llama/llama-3.1-8b", "name": "llama"},
        {"model": "groq/*"},
    ]
    plain, nested, wildcard = _valid(base).model_providers
    assert (plain.provider, plain.model_id, plain.is_wildcard) == ("openai", "gpt-4o", False)
    assert (nested.provider, nested.model_id) == ("openrouter", "meta-llama/llama-3.1-8b")
    assert (plain.effective_name, nested.effective_name) == ("openai/gpt-4o", "llama")
    assert (wildcard.provider, wildcard.model_id, wildcard.is_wildcard) == ("groq", "*", True)


def test_model_without_prefix_takes_provider_from_interface(base: dict[str, Any]) -> None:
    base["model_providers"] = [{"model": "gpt-4o", "provider_interface": "openai"}]
    [provider] = _valid(base).model_providers
    assert (provider.provider, provider.model_id) == ("openai", "gpt-4o")


def test_claude_interface_is_read_as_anthropic(base: dict[str, Any]) -> None:
    base["model_providers"] = [
        {"model": "corp/claude", "provider_interface": "claude", "base_url": "https://llm.corp"}
    ]
    assert _valid(base).model_providers[0].provider_interface == "anthropic"


def test_headers_and_flags_are_kept(base: dict[str, Any]) -> None:
    base["model_providers"][0].update(
        {"headers": {"X-Org": "acme"}, "passthrough_auth": True, "default": True}
    )
    del base["model_providers"][0]["access_key"]
    provider = _valid(base).model_providers[0]
    assert provider.headers == {"X-Org": "acme"}
    assert provider.passthrough_auth and provider.default


def test_gateway_defaults(base: dict[str, Any]) -> None:
    gateway = _valid(base).gateway
    assert gateway.max_request_body == 10 * 1024 * 1024
    assert gateway.max_in_flight == 2048
    assert (gateway.connect_timeout, gateway.first_byte_timeout, gateway.drain_timeout) == (
        5.0,
        60.0,
        30.0,
    )
    assert (gateway.workers, gateway.log_level, gateway.admin_port) == (1, "info", None)


def test_gateway_values_are_parsed(base: dict[str, Any]) -> None:
    base["gateway"] = {
        "max_request_body": "512KiB",
        "connect_timeout": "1500ms",
        "first_byte_timeout": "2m",
        "drain_timeout": 0,
        "workers": 4,
        "log_level": "debug",
        "admin_port": 9901,
    }
    gateway = _valid(base).gateway
    assert gateway.max_request_body == 512 * 1024
    assert (gateway.connect_timeout, gateway.first_byte_timeout) == (1.5, 120.0)
    assert (gateway.drain_timeout, gateway.workers, gateway.admin_port) == (0.0, 4, 9901)
    assert gateway.log_level == "debug"


def test_plano_upstream_connect_timeout_sets_gateway_connect_timeout(
    base: dict[str, Any],
) -> None:
    base["overrides"] = {"upstream_connect_timeout": "10s"}
    assert _valid(base).gateway.connect_timeout == 10.0


def test_gateway_connect_timeout_wins_over_plano_override(base: dict[str, Any]) -> None:
    base["overrides"] = {"upstream_connect_timeout": "10s"}
    base["gateway"] = {"connect_timeout": "2s"}
    assert _valid(base).gateway.connect_timeout == 2.0


def test_null_sections_count_as_absent(base: dict[str, Any]) -> None:
    base.update({"tracing": None, "gateway": None, "model_aliases": None})
    config = _valid(base)
    assert config.tracing is None
    assert config.gateway.max_in_flight == 2048
    assert config.model_aliases == {}


@pytest.mark.parametrize("version", ["v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0"])
def test_every_plano_version_is_accepted(base: dict[str, Any], version: str) -> None:
    base["version"] = version
    assert _valid(base).version == version


def test_aliases_and_plano_sections_are_typed(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"smart": {"target": "openai/gpt-4o"}}
    base["routing_preferences"] = [
        {
            "name": "code",
            "description": "writing code",
            "models": ["openai/gpt-4o"],
            "selection_policy": {"prefer": "cheapest"},
        }
    ]
    base["endpoints"] = {"api": {"endpoint": "api:80", "connect_timeout": "3s"}}
    base["state_storage"] = {"type": "memory"}
    config = _valid(base)
    assert config.model_aliases["smart"].target == "openai/gpt-4o"
    assert config.routing_preferences[0].selection_policy is not None
    assert config.routing_preferences[0].selection_policy.prefer == "cheapest"
    assert config.endpoints["api"].connect_timeout == 3.0
    assert config.state_storage is not None and config.state_storage.type == "memory"
