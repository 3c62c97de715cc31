"""Plans of the smart router: pools, aliases, rules, fallbacks, capabilities, affinity."""

from __future__ import annotations

import pytest
from tests.routing.smart_support import FakeClock, ctx, names, request, router

from plano.errors import InvalidRequest, UnsupportedCapability, UpstreamStatusError
from plano.routing import metrics as m
from plano.routing.router import Plan

POOLS = {
    "chat": {"strategy": "round_robin", "deployments": ["mini-a", "mini-b"]},
    "cheap": {"strategy": "cheapest", "deployments": ["openai/gpt-4o", "mini-a"]},
    "fast": {"strategy": "lowest_latency", "deployments": ["mini-a", "deepseek/deepseek-chat"]},
}


def plan(r: object, req: object, headers: dict[str, str] | None = None) -> Plan:
    p = r.plan(ctx(req, headers))  # type: ignore[attr-defined]
    assert isinstance(p, Plan)
    return p


def test_a_plain_model_name_is_one_deployment() -> None:
    r = router()
    assert names(plan(r, request("openai/gpt-4o"))) == ["openai/gpt-4o"]
    assert r.counters.get(m.DECISIONS, kind="model", name="") == 1


def test_pool_round_robin_and_fallback_order() -> None:
    r = router(model_pools=POOLS)
    firsts = [names(plan(r, request("chat")))[0] for _ in range(4)]
    assert firsts == ["mini-a", "mini-b", "mini-a", "mini-b"]
    assert sorted(names(plan(r, request("chat")))) == ["mini-a", "mini-b"]


def test_alias_can_stand_for_a_pool() -> None:
    r = router(model_pools=POOLS, model_aliases={"default-chat": {"target": "chat"}})
    assert sorted(names(plan(r, request("default-chat")))) == ["mini-a", "mini-b"]


def test_cheapest_pool_prefers_the_cheaper_model() -> None:
    r = router(model_pools=POOLS)
    assert names(plan(r, request("cheap"))) == ["mini-a", "openai/gpt-4o"]


def test_lowest_latency_pool_follows_measurements() -> None:
    r = router(model_pools=POOLS)
    dep_a, dep_d = (r.catalog.resolve(n) for n in ("mini-a", "deepseek/deepseek-chat"))
    r.report(dep_a, None, 900.0, None)
    r.report(dep_d, None, 100.0, None)
    assert names(plan(r, request("fast"))) == ["deepseek/deepseek-chat", "mini-a"]
    r.report(dep_a, None, 10.0, 5.0)  # a stream: its time to first token
    assert names(plan(r, request("fast", stream=True)))[0] == "mini-a"


def test_rules_route_before_the_requested_name() -> None:
    rules = [
        {"name": "vision", "when": {"has_images": True}, "route_to": "openai/gpt-4o"},
        {"name": "research", "when": {"headers": {"x-team": "research"}}, "route_to": "chat"},
    ]
    r = router(model_pools=POOLS, routing_rules=rules)
    p = plan(r, request("mini-a", image=True))
    assert names(p) == ["openai/gpt-4o"] and p.route == "vision"
    assert sorted(names(plan(r, request("mini-a"), {"x-team": "research"}))) == [
        "mini-a",
        "mini-b",
    ]
    assert names(plan(r, request("mini-a"))) == ["mini-a"]
    assert r.counters.get(m.DECISIONS, kind="rule", name="vision") == 1


def test_fallbacks_of_rule_pool_and_config_come_after() -> None:
    pools = {**POOLS, "chat": {**POOLS["chat"], "fallbacks": ["openai/gpt-4o"]}}
    r = router(
        model_pools=pools,
        routing_rules=[
            {"name": "r", "when": {"tags": "x"}, "route_to": "chat", "fallbacks": "deepseek-chat"}
        ],
        fallback={"models": {"*": ["groq/llama-3.3-70b-versatile"]}},
    )
    p = plan(r, request("chat"), {"x-plano-tags": "x"})
    assert names(p)[2:] == [
        "deepseek/deepseek-chat",
        "openai/gpt-4o",
        "groq/llama-3.3-70b-versatile",
    ]
    assert names(plan(r, request("openai/gpt-4o"))) == [
        "openai/gpt-4o",
        "groq/llama-3.3-70b-versatile",
    ]


def test_capabilities_skip_deployments_that_cannot_serve() -> None:
    r = router(
        model_pools={"any": {"deployments": ["deepseek/deepseek-chat", "openai/gpt-4o"]}},
        model_capabilities={"gpt-4o": {"tools": False}},
    )
    assert names(plan(r, request("any", image=True))) == ["openai/gpt-4o"]  # builtin: no vision
    assert names(plan(r, request("any", tools=True))) == ["deepseek/deepseek-chat"]
    with pytest.raises(UnsupportedCapability, match="does not accept images"):
        plan(r, request("deepseek-chat", image=True))


async def test_context_window_filters_and_explains() -> None:
    r = router(
        model_pools={"any": {"deployments": ["mini-a", "groq/llama-3.3-70b-versatile"]}},
        model_capabilities={"mini-a": {"context_window": 1000}, "llama-*": {"context_window": 50}},
    )
    short = request("any", "hi")
    assert sorted(names(plan(r, short))) == ["groq/llama-3.3-70b-versatile", "mini-a"]
    # ~500 tokens: far above 50 by size alone, near 1000, so counted (off the loop) once.
    long = r.plan(ctx(request("any", "word " * 400)))
    assert not isinstance(long, Plan)
    assert names(await long) == ["mini-a"]
    assert r.counters.get(m.TOKENS_COUNTED, how="exact") == 1
    with pytest.raises(InvalidRequest) as exc:
        plan(r, request("any", "word " * 4000))  # far above both: no count needed
    assert exc.value.code == "context_length_exceeded"
    assert r.counters.get(m.TOKENS_COUNTED, how="exact") == 1


async def test_a_rule_on_input_tokens_counts_near_its_threshold_only() -> None:
    rules = [{"name": "long", "when": {"input_tokens": {"gte": 300}}, "route_to": "openai/gpt-4o"}]
    r = router(routing_rules=rules)
    assert names(plan(r, request("gpt-4o-mini", "hi"))) == ["mini-a"]
    assert names(plan(r, request("gpt-4o-mini", "word " * 2000))) == ["openai/gpt-4o"]
    near = r.plan(ctx(request("gpt-4o-mini", "word " * 300)))  # 1500 chars: 187-750 tokens
    assert not isinstance(near, Plan)
    assert names(await near) == ["openai/gpt-4o"]  # 375 counted
    assert r.counters.get(m.DECISIONS, kind="rule", name="long") == 2
    assert r.counters.get(m.TOKENS_COUNTED, how="exact") == 1


def test_open_breakers_and_cooling_deployments_stay_in_the_plan_for_the_loop() -> None:
    clock = FakeClock()
    r = router(clock, model_pools=POOLS)
    dep = r.catalog.resolve("mini-a")
    r.report(dep, UpstreamStatusError("slow down", status=429, retry_after=30), 1.0, None)
    p = plan(r, request("chat"))
    assert p.tracker is not None
    assert p.tracker.ready_at(dep) == clock() + 30


def test_affinity_keeps_a_session_on_its_deployment_while_healthy() -> None:
    clock = FakeClock()
    r = router(clock, model_pools=POOLS)
    headers = {"x-model-affinity": "conv-1"}
    first = plan(r, request("chat"), headers)
    assert first.tracker is not None
    first.tracker.succeeded(first.deployments[0])
    pinned = first.deployments[0].key
    for _ in range(5):  # round robin would alternate; the pin holds
        assert names(plan(r, request("chat"), headers))[0] == pinned
    assert r.counters.get(m.AFFINITY_HITS) == 5
    dep = first.deployments[0]
    for _ in range(5):
        r.report(dep, UpstreamStatusError("down", status=500), 1.0, None)
    assert names(plan(r, request("chat"), headers))[0] != pinned  # breaker open: pin ignored
    clock.advance(601)
    assert r.affinity.get("conv-1", "chat", clock()) is None


def test_backoff_is_jittered_exponential_and_capped() -> None:
    r = router(fallback={"backoff": {"initial": "100ms", "max": "1s", "jitter": 0.5}})
    err = UpstreamStatusError("x", status=500)
    delays = [r.backoff(n, err) for n in range(6)]
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2
    assert all(0.5 <= d <= 1.0 for d in delays[4:])


def test_client_named_wildcard_models_keep_routing_state_bounded() -> None:
    """20,000 client-chosen names under openai/* grew memory by 51 MB."""
    r = router(model_providers=[{"model": "openai/*", "access_key": "k"}])
    r.health._max_client_named = 50
    for i in range(2000):
        p = plan(r, request(f"openai/model-{i}"))
        dep = p.deployments[0]
        assert dep.group == "openai/*" and dep.metric_key == "openai/*"
        r.report(dep, UpstreamStatusError("busy", status=503), 1.0, None)
    assert len(r.health._by_name) <= 51  # 50 named, then the wildcard's shared entry
    labels = {dict(k[1]).get("deployment") for k in r.counters._values}
    assert labels <= {"openai/*", None}
