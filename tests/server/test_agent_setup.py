from __future__ import annotations

from typing import Any

import pytest

from plano.agents.choosers import EmbeddingChooser, LLMChooser
from plano.config import check_config
from plano.config.agents import Orchestration
from plano.routing.catalog import ModelCatalog
from plano.server.agent_setup import choosers_for


def _config(model: str | None, providers: list[dict[str, Any]] | None = None) -> Any:
    data: dict[str, Any] = {
        "version": "v0.4.0",
        "model_providers": providers or [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "agents": [{"id": "a", "url": "http://127.0.0.1:1"}, {"id": "b", "url": "http://h:2"}],
        "listeners": [
            {
                "type": "agent",
                "name": "agents",
                "port": 8001,
                "agents": [{"id": "a", "description": "x"}, {"id": "b", "description": "y"}],
            }
        ],
    }
    if model is not None:
        data["overrides"] = {"agent_orchestration_model": model}
    config, issues = check_config(data, {})
    assert config is not None, [str(i) for i in issues]
    return config


def _agents(config: Any) -> Any:
    return next(lst for lst in config.listeners if lst.type == "agent")


@pytest.mark.parametrize("model", [None, "plano/Plano-Orchestrator", "Plano-Orchestrator"])
def test_vendor_hosted_or_undeclared_orchestrator_means_embeddings(model: str | None) -> None:
    config = _config(model)
    catalog = ModelCatalog(config.model_providers, config.model_aliases)
    chooser, backup, load = choosers_for(config, _agents(config), catalog, Orchestration())
    assert isinstance(chooser, EmbeddingChooser) and backup is None and load is chooser


def test_declared_orchestrator_model_with_embeddings_behind_it() -> None:
    local = {
        "model": "plano/katanemo/Plano-Orchestrator-4B",
        "base_url": "http://127.0.0.1:8000",
        "provider_interface": "openai",
    }
    config = _config("plano/katanemo/Plano-Orchestrator-4B", [local])
    catalog = ModelCatalog(config.model_providers, config.model_aliases)
    chooser, backup, _ = choosers_for(config, _agents(config), catalog, Orchestration())
    assert isinstance(chooser, LLMChooser) and chooser.model.endswith("Plano-Orchestrator-4B")
    assert isinstance(backup, EmbeddingChooser)


def test_rules_only_and_single_agent_need_no_chooser() -> None:
    config = _config(None)
    catalog = ModelCatalog(config.model_providers, config.model_aliases)
    rules = Orchestration(chooser="rules", rules=[{"agents": ["a"], "contains": ["x"]}])
    assert choosers_for(config, _agents(config), catalog, rules) == (None, None, None)
