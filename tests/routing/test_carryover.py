"""Which deployments a reloaded config still has: the routing state carried over for them."""

from __future__ import annotations

from typing import Any

from plano.config import check_config
from plano.routing.affinity import AffinityMap, Pin
from plano.routing.carryover import surviving
from plano.routing.catalog import ModelCatalog
from plano.routing.health import BreakerSettings, HealthBoard


def catalog(*providers: dict[str, Any]) -> ModelCatalog:
    raw = {"version": "v0.4.0", "model_providers": list(providers)}
    config, issues = check_config(raw, {})
    assert config is not None, issues
    return ModelCatalog(config.model_providers, config.model_aliases)


GPT = {"model": "openai/gpt-4o-mini", "access_key": "k"}
WILD = {"model": "openai/*", "access_key": "k"}


def test_same_key_and_upstream_survive_a_changed_key_or_url_does_not() -> None:
    old = catalog(GPT, {"model": "groq/llama-3.3-70b-versatile", "access_key": "k"})
    rotated = {**GPT, "access_key": "k2"}  # a new key is the same deployment
    moved = {"model": "groq/llama-3.3-70b-versatile", "access_key": "k", "base_url": "http://x"}
    keep = surviving(old, catalog(rotated, moved))
    assert keep("openai/gpt-4o-mini")
    assert not keep("groq/llama-3.3-70b-versatile")
    assert not keep("gone/model")


def test_models_a_wildcard_made_survive_with_their_wildcard() -> None:
    old = catalog(WILD)
    assert surviving(old, catalog(WILD))("openai/gpt-5")
    assert not surviving(old, catalog(GPT))("openai/gpt-5")


def test_the_board_and_the_map_take_over_what_survives() -> None:
    old = HealthBoard(BreakerSettings(consecutive_failures=1))
    old.record("a", 0.0, failed=True)
    old.record("b", 0.0, failed=True)
    new = HealthBoard(BreakerSettings(consecutive_failures=7, cooldown=99.0))
    assert new.adopt(old, lambda name: name == "a") == ["a"]
    assert new.names() == ["a"] and new.get("a") is old.get("a")
    assert new.get("a").breaker.state == "open"
    assert new.get("a").breaker.settings.cooldown == 99.0  # the new settings apply

    pins = AffinityMap(ttl=60.0, max_entries=10)
    pins.put("s1", "m", "a", None, 0.0)
    pins.put("s2", "m", "b", None, 0.0)
    kept = AffinityMap(ttl=60.0, max_entries=1)
    assert kept.adopt(pins, lambda pin: isinstance(pin, Pin)) == 1  # bounded by the new size
    assert kept.get("s2", "m", 1.0) is not None and kept.get("s1", "m", 1.0) is None
