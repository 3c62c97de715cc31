"""`plano validate` on the routing keys: friendly, path-based issues."""

from __future__ import annotations

from typing import Any

from tests.routing.smart_support import PROVIDERS

from plano.config import check_config


def issues(**extra: Any) -> list[str]:
    data = {"version": "v0.4.0", "model_providers": PROVIDERS, **extra}
    _, found = check_config(data, {})
    return [f"{i.severity}: {i}" for i in found if i.severity != "unsupported"]


def test_a_full_valid_routing_config_has_no_issues() -> None:
    assert (
        issues(
            model_pools={
                "chat": {"strategy": "least_busy", "deployments": ["mini-a", {"model": "mini-b"}]}
            },
            model_aliases={"assistant": {"target": "chat"}},
            routing_rules=[{"name": "v", "when": {"has_images": True}, "route_to": "assistant"}],
            routing_preferences=[{"name": "code", "description": "code", "models": ["chat"]}],
            fallback={"models": {"*": "openai/gpt-4o"}, "first_token_timeout": "5s"},
            model_capabilities={"llama-*": {"vision": False}},
            routing={"session_ttl_seconds": 60},
        )
        == []
    )


def test_unknown_pool_member_is_named_with_a_hint() -> None:
    assert issues(model_pools={"chat": {"deployments": ["mini-c"]}}) == [
        "error: model_pools.chat.deployments[0].model: 'mini-c' is not a model_providers "
        "entry (did you mean 'mini-b'?)"
    ]


def test_bad_strategy_and_weight() -> None:
    found = issues(
        model_pools={
            "chat": {"strategy": "fastest", "deployments": [{"model": "mini-a", "weight": 0}]}
        }
    )
    assert any("model_pools.chat.strategy: expected one of weighted" in i for i in found)
    assert any("model_pools.chat.deployments[0].weight: must be greater than 0" in i for i in found)


def test_rule_target_and_range() -> None:
    found = issues(
        routing_rules=[
            {"name": "a", "when": {"input_tokens": {}}, "route_to": "gpt-4o"},
            {"name": "b", "route_to": "gtp-4o"},
        ]
    )
    assert any("routing_rules[0].when.input_tokens: give at least one of gt" in i for i in found)
    found = issues(routing_rules=[{"name": "b", "route_to": "gtp-4o"}])
    assert found == [
        "error: routing_rules[0].route_to: 'gtp-4o' is not a declared model, alias or pool "
        "(did you mean 'gpt-4o'?)"
    ]


def test_catch_all_rule_before_others_is_a_warning() -> None:
    found = issues(
        routing_rules=[{"name": "all", "route_to": "mini-a"}, {"name": "x", "route_to": "mini-b"}]
    )
    assert found == [
        "warning: routing_rules[0].when: matches every request: the rules after it never apply"
    ]


def test_fallback_models_must_resolve() -> None:
    assert issues(fallback={"models": {"nope": ["mini-a"], "*": ["gpt4o"]}}) == [
        "error: fallback.models.nope: 'nope' is not a declared model, alias or pool",
        "error: fallback.models.*[0]: 'gpt4o' is not a declared model, alias or pool "
        "(did you mean 'gpt-4o'?)",
    ]


def test_preference_router_settings() -> None:
    prefs = [{"name": "code", "description": "code", "models": ["mini-a"]}]
    assert issues(routing_preferences=prefs, preference_router={"type": "llm"}) == [
        "error: preference_router.model: type llm needs a router model (here, routing.model "
        "or overrides.llm_routing_model)"
    ]
    assert issues(routing_preferences=prefs, preference_router={"default_route": "cod"}) == [
        "error: preference_router.default_route: 'cod' is not a routing_preferences route "
        "(did you mean 'code'?)"
    ]
    assert issues(routing_preferences=prefs, routing={"model": "arch-router"}) == [
        "error: routing.model: 'arch-router' is not a declared model, alias or pool"
    ]
    assert issues(preference_router={"timeout": "1s"}) == [
        "warning: preference_router: has no effect without routing_preferences"
    ]


def test_routes_may_name_pools() -> None:
    assert (
        issues(
            model_pools={"chat": {"deployments": ["mini-a"]}},
            routing_preferences=[{"name": "c", "description": "d", "models": ["chat"]}],
        )
        == []
    )
