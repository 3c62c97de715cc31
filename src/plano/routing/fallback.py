"""Trying a plan's deployments in order until one answers.

Only retryable errors (connection, time-out, 429, 5xx, ...) move on to the next deployment, and
only before the first byte reached the client: a stream that already started reports its
failure in-band instead. When every attempt fails, the client gets the last error with each
attempt listed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from plano.errors import PlanoError, is_retryable
from plano.pipeline.context import Attempt, RequestContext
from plano.routing.catalog import Deployment
from plano.routing.router import Plan, Router

__all__ = ["call_with_fallback"]

T = TypeVar("T")


def _summary(ctx: RequestContext) -> str:
    return "; ".join(f"{a.deployment}: {a.status} {a.error or ''}".strip() for a in ctx.attempts)


async def call_with_fallback(
    ctx: RequestContext,
    plan: Plan,
    router: Router,
    attempt: Callable[[RequestContext, Deployment], Awaitable[T]],
) -> T:
    limit = plan.max_attempts or len(plan.deployments)
    candidates = plan.deployments[:limit]
    for i, dep in enumerate(candidates):
        ctx.deployment = dep
        started = time.perf_counter_ns()
        try:
            result = await attempt(ctx, dep)
        except PlanoError as err:
            ms = (time.perf_counter_ns() - started) / 1e6
            ctx.attempts.append(Attempt(dep.name, err.status, err.metric_label, ms))
            router.report(dep, err, ms, None)
            last = i == len(candidates) - 1
            if last or not is_retryable(err) or "stream" in ctx.state:
                if len(ctx.attempts) > 1:
                    err.message = f"{err.message} (attempts: {_summary(ctx)})"
                raise
            delay = router.backoff(i, err)
            if delay > 0:
                await asyncio.sleep(delay)
            continue
        ms = (time.perf_counter_ns() - started) / 1e6
        ctx.attempts.append(Attempt(dep.name, ctx.status, None, ms))
        router.report(dep, None, ms, ctx.ttft_ms())
        return result
    raise AssertionError("a plan has at least one deployment")
