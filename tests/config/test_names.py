"""plano.config.names: the one model-name rule, and validation and routing agreeing on it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from plano.config import ModelNames, ModelProvider, PlanoConfig, check_config, config_names
from plano.errors import InvalidRequest, PlanoError
from plano.providers.deployment import Deployment
from plano.routing.catalog import ModelCatalog

#: A config that uses every way of naming a model: full names, ``name``s (one equal to another
#: entry's bare id), a bare id two entries share, wildcards (one with a ``name``), a custom
#: provider, a default, and aliases to each kind of target.
CONFIG: dict[str, Any] = {
    "version": "v0.4.0",
    "listeners": [{"type": "model", "name": "llm", "port": 12000}],
    "model_providers": [
        {"model": "openai/gpt-4o", "access_key": "sk-a"},
        {"model": "groq/gpt-4o", "name": "groq-4o", "access_key": "sk-b"},
        {"model": "openai/gpt-4o-mini", "name": "mini", "access_key": "sk-a", "default": True},
        {"model": "mistral/mistral-large", "name": "llama", "access_key": "sk-c"},
        {"model": "groq/llama", "access_key": "sk-b"},
        {"model": "openai/*", "name": "any-openai", "access_key": "sk-a"},
        {"model": "gemini/*", "access_key": "sk-g"},
        {
            "model": "corp/house-model",
            "provider_interface": "openai",
            "base_url": "http://127.0.0.1:9/v1",
        },
    ],
    "model_aliases": {
        "fast": {"target": "mini"},
        "smart": {"target": "gpt-4o"},
        "flash": {"target": "gemini/gemini-2.0-flash"},
        "house": {"target": "corp/house-model"},
    },
}

#: Every kind of name, declared or not, well-formed or not.
PROBES = [
    "",
    "none",
    "openai/gpt-4o",
    "gpt-4o",
    "groq/gpt-4o",
    "groq-4o",
    "mini",
    "gpt-4o-mini",
    "llama",
    "groq/llama",
    "mistral-large",
    "house-model",
    "corp/house-model",
    "fast",
    "smart",
    "flash",
    "house",
    "openai/o3",
    "gemini/gemini-2.5-pro",
    "openai/gpt-4o-2024-08-06",
    "openai/*",
    "any-openai",
    "gemini/",
    "groq/o3",
    "anthropic/claude",
    "gpt-5",
    "openai/a b",
    "openai/a//b",
    "openai/../admin",
    "gemini/x?alt=json",
]


def _config(data: dict[str, Any]) -> PlanoConfig:
    config, issues = check_config(data, {})
    assert config is not None, [str(i) for i in issues]
    return config


def _routing(config: PlanoConfig, name: str) -> Deployment | None:
    """The deployment routing calls for ``name``, ``None`` when it refuses the name."""
    try:
        return ModelCatalog(config.model_providers, config.model_aliases).resolve(name)
    except PlanoError:
        return None


def _errors(data: dict[str, Any]) -> list[str]:
    _, issues = check_config(data, {})
    return [str(i) for i in issues if i.severity == "error"]


def _as_reference(name: str) -> dict[str, Any]:
    data = copy.deepcopy(CONFIG)
    data["routing_rules"] = [{"name": "probe", "route_to": name}]
    return data


def _as_alias_target(name: str) -> dict[str, Any]:
    data = copy.deepcopy(CONFIG)
    data["model_aliases"]["probe"] = {"target": name}
    return data


def _same_entry(dep: Deployment, entry: ModelProvider, wildcard_model: str | None) -> bool:
    if wildcard_model is None:
        return dep.key == entry.effective_name and dep.model_id == entry.model_id
    return dep.group == entry.effective_name and dep.model_id == wildcard_model


@pytest.mark.parametrize("name", PROBES)
def test_validation_and_routing_agree_on_a_reference(name: str) -> None:
    config = _config(CONFIG)
    routed = _routing(config, name)
    assert (_errors(_as_reference(name)) == []) == (routed is not None)
    names = config_names(config)
    assert names.resolves(name) == (routed is not None)
    if routed is not None:
        found = names.resolve(name)
        assert found is not None
        assert _same_entry(routed, found.value, found.wildcard_model)


@pytest.mark.parametrize("name", PROBES)
def test_validation_and_routing_agree_on_an_alias_target(name: str) -> None:
    valid = _errors(_as_alias_target(name)) == []
    # Routing through the alias: what the catalog of that config does with the alias name.
    data = _as_alias_target(name)
    config = PlanoConfig.model_validate(data)
    routed = _routing(config, "probe")
    assert valid == (routed is not None)
    if routed is not None:
        found = config_names(config).entry(name)
        assert found is not None
        assert _same_entry(routed, found.value, found.wildcard_model)


def test_the_representative_config_is_valid_and_every_alias_resolves() -> None:
    config = _config(CONFIG)
    for alias in CONFIG["model_aliases"]:
        assert _routing(config, alias) is not None


def _names(*entries: ModelProvider, aliases: dict[str, str] | None = None) -> ModelNames[str]:
    return ModelNames([(e, e.effective_name) for e in entries], aliases)


def test_a_wildcard_name_names_nothing() -> None:
    names = _names(ModelProvider(model="openai/*", name="anything"))
    assert not names.resolves("anything")
    assert "anything" not in names.entry_names()
    assert names.names() == ["openai/*"]


def test_a_wildcard_is_not_a_model_id() -> None:
    names = _names(ModelProvider(model="openai/*"))
    assert not names.resolves("openai/*")
    with pytest.raises(InvalidRequest):
        names.resolve("openai/*")
    with pytest.raises(InvalidRequest):
        names.entry("openai/a//b")  # the name passes, the id under the wildcard does not


def test_default_only_for_no_name() -> None:
    names = _names(ModelProvider(model="openai/a"), ModelProvider(model="groq/b", default=True))
    for name in ("", "none"):
        found = names.resolve(name)
        assert found is not None and found.value == "groq/b"
    assert names.entry("") is None
    assert names.entry("none") is None


def test_no_default_is_a_400_not_a_miss() -> None:
    names = _names(ModelProvider(model="openai/a"))
    with pytest.raises(InvalidRequest, match="'model' is required"):
        names.resolve("")


def test_an_alias_is_one_level() -> None:
    names = _names(ModelProvider(model="openai/a"), aliases={"x": "openai/a", "y": "x"})
    found = names.resolve("x")
    assert found is not None and found.value == "openai/a"
    assert names.resolve("y") is None
    assert names.entry("x") is None  # entry() reads no aliases


def test_a_declared_name_may_use_any_characters() -> None:
    names = _names(ModelProvider(model="openai/a", name="my model"), aliases={"a b": "my model"})
    assert names.resolves("my model")
    assert names.resolves("a b")
    assert not names.resolves("other model")
    with pytest.raises(InvalidRequest):
        names.resolve("other model")
