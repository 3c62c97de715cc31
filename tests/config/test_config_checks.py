"""Cross-field checks on a structurally valid config."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import ModelNames, ModelProvider, check_config, provider_spec
from plano.providers.table import KNOWN_PROVIDERS


def _errors(data: dict[str, Any]) -> list[str]:
    config, issues = check_config(data, {})
    errors = [str(issue) for issue in issues if issue.severity == "error"]
    assert (config is None) == bool(errors)
    return errors


def _warnings(data: dict[str, Any]) -> list[str]:
    _, issues = check_config(data, {})
    return [str(issue) for issue in issues if issue.severity == "warning"]


def _providers(base: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    base["model_providers"] = list(entries)
    return base


def test_valid_config_has_no_issues(base: dict[str, Any]) -> None:
    config, issues = check_config(base, {})
    assert config is not None
    assert issues == []


def test_unknown_provider_with_did_you_mean(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "opneai/gpt-4o"})) == [
        "model_providers[0].model: unknown provider 'opneai' (did you mean 'openai'?); "
        "for another OpenAI-compatible server set provider_interface and base_url"
    ]


def test_unknown_provider_is_fine_with_interface_and_base_url(base: dict[str, Any]) -> None:
    entry = {"model": "corp/llama", "provider_interface": "openai", "base_url": "http://h:8000"}
    assert _errors(_providers(base, entry)) == []


def test_unknown_interface_with_did_you_mean(base: dict[str, Any]) -> None:
    entry = {"model": "corp/llama", "provider_interface": "opnai", "base_url": "http://h"}
    [error] = _errors(_providers(base, entry))
    assert error.startswith(
        "model_providers[0].provider_interface: unknown provider_interface 'opnai' "
        "(did you mean 'openai'?); expected one of plano, openai,"
    )


def test_interface_without_base_url(base: dict[str, Any]) -> None:
    entry = {"model": "corp/llama", "provider_interface": "openai"}
    assert _errors(_providers(base, entry)) == [
        "model_providers[0]: provider 'corp' requires base_url"
    ]


@pytest.mark.parametrize("name", ["ollama", "azure_openai", "qwen", "amazon_bedrock"])
def test_provider_that_requires_base_url(base: dict[str, Any], name: str) -> None:
    assert _errors(_providers(base, {"model": f"{name}/m"})) == [
        f"model_providers[0]: provider {name!r} requires base_url"
    ]


def test_provider_with_required_base_url_given(base: dict[str, Any]) -> None:
    entry = {"model": "ollama/llama3.2", "base_url": "http://localhost:11434"}
    assert _errors(_providers(base, entry)) == []


def test_model_without_prefix(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "gpt-4o"})) == [
        "model_providers[0].model: 'gpt-4o' has no provider prefix; write 'provider/model_id' "
        "(e.g. 'openai/gpt-4o') or set provider_interface"
    ]


def test_model_without_prefix_is_fine_with_interface(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "gpt-4o", "provider_interface": "openai"})) == []


def test_empty_model_id(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "openai/"})) == [
        "model_providers[0].model: 'openai/' has an empty model id"
    ]


@pytest.mark.parametrize("url", ["localhost:11434", "ftp://host", "http://", ""])
def test_base_url_must_be_http(base: dict[str, Any], url: str) -> None:
    errors = _errors(_providers(base, {"model": "openai/gpt-4o", "base_url": url}))
    if url:
        assert errors == [f"model_providers[0].base_url: expected an http(s) URL, got {url!r}"]
    else:
        assert errors == []  # empty means "not set" (an unset $VAR), which openai allows


def test_base_url_from_unset_env_var_on_provider_that_needs_one(base: dict[str, Any]) -> None:
    entry = {"model": "ollama/llama3.2", "base_url": "$OLLAMA_URL"}
    config, issues = check_config(_providers(base, entry), {})
    assert config is None
    assert [str(issue) for issue in issues] == [
        "model_providers[0]: provider 'ollama' requires base_url",
        "model_providers[0].base_url: environment variable OLLAMA_URL is not set",
    ]


def test_duplicate_model(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "openai/gpt-4o"}, {"model": "openai/gpt-4o"})) == [
        "model_providers[1].model: duplicate model name 'openai/gpt-4o' "
        "(first declared at model_providers[0])"
    ]


def test_duplicate_name(base: dict[str, Any]) -> None:
    data = _providers(
        base,
        {"model": "openai/gpt-4o", "name": "main"},
        {"model": "anthropic/claude-sonnet-4-5", "name": "main"},
    )
    assert _errors(data) == [
        "model_providers[1].name: duplicate model name 'main' "
        "(first declared at model_providers[0])"
    ]


def test_same_model_with_different_names_is_allowed(base: dict[str, Any]) -> None:
    data = _providers(
        base,
        {"model": "openai/gpt-4o", "name": "team-a"},
        {"model": "openai/gpt-4o", "name": "team-b"},
    )
    assert _errors(data) == []


def test_duplicate_across_llm_providers_names_both_sections(base: dict[str, Any]) -> None:
    base["llm_providers"] = [{"model": "openai/gpt-4o"}]
    assert _errors(base) == [
        "llm_providers[0].model: duplicate model name 'openai/gpt-4o' "
        "(first declared at model_providers[0])"
    ]


def test_more_than_one_default(base: dict[str, Any]) -> None:
    data = _providers(
        base,
        {"model": "openai/gpt-4o", "default": True},
        {"model": "openai/gpt-4o-mini"},
        {"model": "anthropic/claude-sonnet-4-5", "default": True},
    )
    assert _errors(data) == [
        "model_providers[2].default: more than one model provider has default: true "
        "(first at model_providers[0])"
    ]


def test_wildcard_cannot_be_default(base: dict[str, Any]) -> None:
    assert _errors(_providers(base, {"model": "openai/*", "default": True})) == [
        "model_providers[0].default: wildcard model 'openai/*' cannot be default"
    ]


def test_passthrough_auth_with_access_key_warns(base: dict[str, Any]) -> None:
    base["model_providers"][0]["passthrough_auth"] = True
    assert _warnings(base) == [
        "model_providers[0].access_key: ignored: passthrough_auth forwards the client's "
        "credentials instead"
    ]


def test_no_providers_warns(base: dict[str, Any]) -> None:
    base["model_providers"] = []
    assert _warnings(base) == [
        "model_providers: no model providers declared; every request will fail"
    ]


def test_alias_to_declared_model(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"smart": {"target": "openai/gpt-4o"}}
    assert _errors(base) == []


def test_alias_to_undeclared_model_with_did_you_mean(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"smart": {"target": "openai/gpt-4"}}
    assert _errors(base) == [
        "model_aliases.smart.target: 'openai/gpt-4' is not a declared model "
        "(did you mean 'openai/gpt-4o'?)"
    ]


def test_alias_to_model_under_a_wildcard(base: dict[str, Any]) -> None:
    base["model_providers"].append({"model": "groq/*"})
    base["model_aliases"] = {"fast": {"target": "groq/llama-3.3-70b-versatile"}}
    assert _errors(base) == []


def test_alias_to_bare_wildcard_provider_is_not_a_model(base: dict[str, Any]) -> None:
    base["model_providers"].append({"model": "groq/*"})
    base["model_aliases"] = {"fast": {"target": "groq/"}}
    assert len(_errors(base)) == 1


def test_alias_to_name_or_bare_model_id(base: dict[str, Any]) -> None:
    base["model_providers"][0]["name"] = "main"
    base["model_aliases"] = {"a": {"target": "main"}, "b": {"target": "gpt-4o"}}
    assert _errors(base) == []


def test_alias_colliding_with_a_model(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"openai/gpt-4o": {"target": "openai/gpt-4o"}}
    assert _errors(base) == [
        "model_aliases.openai/gpt-4o: alias 'openai/gpt-4o' has the same name as a declared model"
    ]


def test_routing_preference_models_must_be_declared(base: dict[str, Any]) -> None:
    base["model_aliases"] = {"smart": {"target": "openai/gpt-4o"}}
    base["routing_preferences"] = [
        {"name": "code", "description": "code", "models": ["openai/gpt-4o", "smart", "gpt-5"]}
    ]
    assert _errors(base) == [
        "routing_preferences[0].models[2]: 'gpt-5' is not a declared model (did you mean 'gpt-4o'?)"
    ]


def test_duplicate_listener_ports(base: dict[str, Any]) -> None:
    base["listeners"].append({"type": "model", "name": "second", "port": 12000})
    assert _errors(base) == [
        "listeners[1].port: port 12000 is already used by listener 'llm' (listeners[0])"
    ]


def test_same_port_on_different_addresses_is_allowed(base: dict[str, Any]) -> None:
    base["listeners"] = [
        {"type": "model", "name": "a", "port": 12000, "address": "127.0.0.1"},
        {"type": "model", "name": "b", "port": 12000, "address": "10.0.0.1"},
    ]
    assert _errors(base) == []


def test_port_taken_by_the_implicit_model_listener(base: dict[str, Any]) -> None:
    base["listeners"] = [{"type": "agent", "name": "agents", "port": 12000}]
    assert _errors(base) == [
        "listeners[0].port: port 12000 is already used by the model listener added because "
        "none is declared"
    ]


def test_duplicate_listener_names(base: dict[str, Any]) -> None:
    base["listeners"].append({"type": "model", "name": "llm", "port": 12001})
    assert _errors(base) == [
        "listeners[1].name: duplicate listener name 'llm' (first at listeners[0])"
    ]


def test_admin_port_clashing_with_a_listener(base: dict[str, Any]) -> None:
    base["gateway"] = {"admin_port": 12000}
    assert _errors(base) == [
        "gateway.admin_port: port 12000 is already used by listener 'llm' (listeners[0])"
    ]


def test_all_semantic_errors_are_reported_at_once(base: dict[str, Any]) -> None:
    data = _providers(base, {"model": "opneai/x"}, {"model": "gpt-4o"}, {"model": "ollama/m"})
    data["model_aliases"] = {"a": {"target": "nope"}}
    assert len(_errors(data)) == 4


def test_provider_spec_prefers_the_known_provider() -> None:
    entry = ModelProvider(model="openai/gpt-4o", provider_interface="openai")
    assert provider_spec(entry) is KNOWN_PROVIDERS["openai"]


def test_provider_spec_for_unknown_provider_uses_interface() -> None:
    spec = provider_spec(ModelProvider(model="corp/x", provider_interface="gemini"))
    assert spec is not None
    assert (spec.name, spec.family, spec.requires_base_url) == ("corp", "gemini", True)


def test_provider_spec_none_when_unknown() -> None:
    assert provider_spec(ModelProvider(model="corp/x")) is None


def test_model_names() -> None:
    entries = [ModelProvider(model="openai/gpt-4o", name="main"), ModelProvider(model="groq/*")]
    index = ModelNames([(p, p) for p in entries])
    assert index.resolves("openai/gpt-4o")
    assert index.resolves("main")
    assert index.resolves("gpt-4o")
    assert index.resolves("groq/anything")
    assert not index.resolves("openai/gpt-5")
    assert not index.resolves("groq")
