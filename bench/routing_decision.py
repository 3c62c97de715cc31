"""Cost of one routing decision (SmartRouter.plan), in microseconds, with no IO.

    .venv/bin/python bench/routing_decision.py

Each case builds the router from a config once, then plans the same parsed request many times;
the figure is the median of several runs of the per-call mean.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from plano.accounting.pricing import PriceBook
from plano.config import check_config
from plano.core.model import ChatRequest, Message, TextPart
from plano.pipeline.context import RequestContext
from plano.routing.catalog import ModelCatalog
from plano.routing.router import Plan
from plano.routing.setup import context_window_lookup, router_from_config
from plano.routing.smart import SmartRouter

PROVIDERS = [
    {"model": "openai/gpt-4o-mini", "name": "mini-a", "access_key": "k"},
    {"model": "openai/gpt-4o-mini", "name": "mini-b", "access_key": "k"},
    {"model": "openai/gpt-4o", "access_key": "k"},
    {"model": "groq/llama-3.3-70b-versatile", "access_key": "k"},
    {"model": "deepseek/deepseek-chat", "access_key": "k"},
]
RULES = [
    {"name": "vision", "when": {"has_images": True}, "route_to": "openai/gpt-4o"},
    {"name": "team", "when": {"headers": {"x-team": "research"}}, "route_to": "openai/gpt-4o"},
    {"name": "tools", "when": {"has_tools": True, "model": "chat"}, "route_to": "openai/gpt-4o"},
    {"name": "tags", "when": {"tags": ["batch"]}, "route_to": "deepseek-chat"},
    {"name": "big", "when": {"max_tokens": {"gt": 8000}}, "route_to": "openai/gpt-4o"},
]


def build(**extra: Any) -> SmartRouter:
    data = {"version": "v0.4.0", "model_providers": PROVIDERS, **extra}
    cfg, issues = check_config(data, {})
    assert cfg is not None, issues
    catalog = ModelCatalog(cfg.model_providers, cfg.model_aliases)
    router = router_from_config(
        cfg,
        catalog,
        PriceBook(),
        lambda r: sum(len(m.text()) for m in r.messages) // 4,
        windows=context_window_lookup(),
    )
    return router


def measure(router: SmartRouter, model: str, headers: dict[str, str], n: int = 20_000) -> float:
    req = ChatRequest(model=model, messages=[Message("user", [TextPart("Hello there " * 20)])])
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            plan = router.plan(RequestContext("r", "openai_chat", headers, request=req))
            assert isinstance(plan, Plan)
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    pools = {
        "chat": {"strategy": "weighted", "deployments": ["mini-a", "mini-b"]},
        "rr": {"strategy": "round_robin", "deployments": ["mini-a", "mini-b", "openai/gpt-4o"]},
        "fast": {"strategy": "lowest_latency", "deployments": ["mini-a", "mini-b"]},
        "cheap": {"strategy": "cheapest", "deployments": ["openai/gpt-4o", "mini-a", "mini-b"]},
    }
    full = build(
        model_pools=pools,
        routing_rules=RULES,
        fallback={"models": {"*": ["deepseek-chat"]}},
    )
    cases = [
        ("model name, no routing config", build(), "gpt-4o-mini", {}),
        ("weighted pool of 2", build(model_pools=pools), "chat", {}),
        ("5 rules (none match) + weighted pool + fallback", full, "chat", {}),
        ("5 rules, a header rule matches", full, "chat", {"x-team": "research"}),
        ("round-robin pool of 3", full, "rr", {}),
        ("lowest-latency pool", full, "fast", {}),
        ("cheapest pool of 3 (token estimate)", full, "cheap", {}),
        ("weighted pool + session affinity", full, "chat", {"x-model-affinity": "conv-1"}),
    ]
    print(f"{'case':52} {'us/decision':>12}")
    for name, router, model, headers in cases:
        print(f"{name:52} {measure(router, model, headers):12.2f}")


if __name__ == "__main__":
    main()
