"""The gateway calling a model for itself: the LLM preference router's questions go through
the same catalog, pools, breakers, fallback, pooled transport and accounting as any request,
but skip rules and preference routing (so they cannot recurse)."""

from __future__ import annotations

import os
import time

import orjson

from plano.core.model import ChatRequest, ChatResponse, Message
from plano.errors import InvalidRequest, PlanoError, UpstreamProtocolError, detached
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import FilterChain
from plano.providers.deployment import Deployment
from plano.providers.registry import CODECS
from plano.providers.transport import UpstreamPool
from plano.routing.fallback import call_with_fallback
from plano.routing.router import Plan
from plano.routing.smart import SmartRouter

__all__ = ["GatewayModelCaller"]


class GatewayModelCaller:
    def __init__(
        self, router: SmartRouter, pool: UpstreamPool, chain: FilterChain, max_tokens: int = 32
    ) -> None:
        self.router = router
        self.pool = pool
        self.chain = chain
        self.max_tokens = max_tokens

    async def complete(self, model: str, messages: list[Message]) -> str:
        """The text of ``model``'s answer to ``messages`` (non-stream, temperature 0)."""
        req = ChatRequest(model=model, messages=messages, max_tokens=self.max_tokens)
        req.temperature = 0.0
        ctx = RequestContext(
            request_id="req_" + os.urandom(12).hex(), shape="openai_chat", headers={}, request=req
        )
        ctx.labels["plano_internal"] = "preference_router"
        try:
            plan = self.router.direct_plan(ctx)
            if not isinstance(plan, Plan):
                plan = await plan
            answer = await call_with_fallback(ctx, plan, self.router, self._attempt)
        except PlanoError as err:
            ctx.status, ctx.error = err.status, detached(err)
            raise
        finally:
            ctx.end_ns = time.perf_counter_ns()
            self.chain.complete(ctx)  # the router's tokens are billed like any others
        return answer.choices[0].message.text() if answer.choices else ""

    async def _attempt(self, ctx: RequestContext, dep: Deployment) -> ChatResponse:
        codec = CODECS.get(dep.family)
        if codec is None:
            raise InvalidRequest(f"Provider family '{dep.family}' is not supported yet.")
        assert ctx.request is not None
        ureq = codec.build(dep, ctx.request, {})
        ctx.upstream_start_ns = time.perf_counter_ns()
        async with self.pool.open(ureq, dep.provider) as resp:
            body = await self.pool.read(resp, dep.provider)
            if resp.status >= 400:
                raise self.pool.decode_error(codec, resp.status, body, resp.headers)
        ctx.upstream_end_ns = time.perf_counter_ns()
        try:
            answer = codec.decode_response(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError(
                f"The provider '{dep.provider}' returned invalid JSON."
            ) from exc
        ctx.usage = answer.usage
        return answer
