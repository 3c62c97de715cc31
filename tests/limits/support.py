"""Pieces of the limits tests: deployments, contexts, upstream requests, and counters that
fail like a store that is down."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from plano.core.model import ChatRequest, Message, TextPart
from plano.pipeline.context import KeyInfo, Principal, RequestContext
from plano.providers.codec import UpstreamRequest
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS
from plano.store.memory import MemoryCounters
from plano.store.protocols import Reservation, StoreUnavailable, WindowDecision


def dep(model: str = "gpt-4o-mini", provider: str = "openai", label: str = "") -> Deployment:
    spec = KNOWN_PROVIDERS[provider]
    return Deployment(f"{provider}/{model}", provider, model, spec, "http://up", "k", label=label)


def request(text: str = "hi", max_tokens: int | None = 16, **kw: Any) -> ChatRequest:
    msgs = [Message("user", [TextPart(text)])]
    return ChatRequest("gpt-4o-mini", msgs, max_tokens=max_tokens, **kw)


def upstream(req: ChatRequest) -> UpstreamRequest:
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [{"role": m.role, "content": m.text()} for m in req.messages],
    }
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    return UpstreamRequest("http://up/v1/chat/completions", {}, orjson.dumps(body))


def context(
    req: ChatRequest | None = None,
    *,
    principal: Principal | None = None,
    session: str | None = None,
    headers: dict[str, str] | None = None,
) -> RequestContext:
    ctx = RequestContext("req-1", "openai_chat", headers or {}, request=req or request())
    if principal is not None:
        ctx.principal = principal
    ctx.session_id = session
    return ctx


def key(
    pid: str, *, budgets: tuple[str, ...] = (), rate_limits: tuple[str, ...] = (), **kw: Any
) -> Principal:
    info = KeyInfo(pid, "config", budgets=budgets, rate_limits=rate_limits)
    return Principal(pid, "key", key=info, **kw)


class DownCounters(MemoryCounters):
    """Counters whose store is down (every call raises), until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    def _check(self) -> None:
        if not self.up:
            raise StoreUnavailable("redis: connection refused")

    async def reserve(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], ttl: float = 600.0
    ) -> Reservation | None:
        self._check()
        return await super().reserve(amounts, limits, ttl)

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        self._check()
        await super().settle(reservation, actual)

    async def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        self._check()
        return await super().add(key, amount, ttl)

    async def window(self, key: str, amount: float, limit: float, window: float) -> WindowDecision:
        self._check()
        return await super().window(key, amount, limit, window)

    async def windows(
        self, checks: Sequence[tuple[str, float, float, float]]
    ) -> list[WindowDecision]:
        self._check()
        return await super().windows(checks)
