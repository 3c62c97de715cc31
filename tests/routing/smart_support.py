"""Shared pieces of the smart-router tests: a config-built router with a fake clock."""

from __future__ import annotations

import random
from typing import Any

from plano.accounting.pricing import PriceBook
from plano.config import PlanoConfig, check_config
from plano.core.model import ChatRequest, ImagePart, Message, TextPart, Tool
from plano.pipeline.context import RequestContext
from plano.routing.catalog import ModelCatalog
from plano.routing.setup import router_from_config
from plano.routing.smart import SmartRouter

PROVIDERS: list[dict[str, Any]] = [
    {"model": "openai/gpt-4o-mini", "name": "mini-a", "access_key": "k"},
    {"model": "openai/gpt-4o-mini", "name": "mini-b", "access_key": "k2"},
    {"model": "openai/gpt-4o", "access_key": "k"},
    {"model": "groq/llama-3.3-70b-versatile", "access_key": "k"},
    {"model": "deepseek/deepseek-chat", "access_key": "k"},
]


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def config(**extra: Any) -> PlanoConfig:
    data: dict[str, Any] = {"version": "v0.4.0", "model_providers": PROVIDERS, **extra}
    cfg, issues = check_config(data, {})
    assert cfg is not None, [str(i) for i in issues]
    return cfg


async def count_quarter(req: ChatRequest) -> int:
    """A stand-in tokenizer: ~4 characters a token."""
    return sum(len(m.text()) for m in req.messages) // 4


def router(clock: FakeClock | None = None, seed: int = 7, **extra: Any) -> SmartRouter:
    cfg = config(**extra)
    catalog = ModelCatalog(cfg.model_providers, cfg.model_aliases)
    r = router_from_config(cfg, catalog, PriceBook(), count_quarter)
    r.clock = clock or FakeClock()
    r.rng = random.Random(seed)
    return r


def request(
    model: str = "gpt-4o-mini",
    text: str = "hello",
    *,
    stream: bool = False,
    tools: bool = False,
    image: bool = False,
    **fields: Any,
) -> ChatRequest:
    parts: list[Any] = [TextPart(text)]
    if image:
        parts.append(ImagePart("https://example.com/cat.png"))
    req = ChatRequest(model=model, messages=[Message("user", parts)], stream=stream, **fields)
    if tools:
        req.tools = [Tool("get_weather", "Weather in a city", {"type": "object"})]
    return req


def ctx(req: ChatRequest, headers: dict[str, str] | None = None) -> RequestContext:
    return RequestContext("req_test", "openai_chat", headers or {}, request=req)


def names(plan: Any) -> list[str]:
    return [d.key for d in plan.deployments]
