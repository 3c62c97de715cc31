"""Trying a plan's deployments until one answers.

Only retryable errors (connection, time-out, 429, 5xx, and with a policy context-length and
content-policy refusals) move on, and only before the first byte reached the client: a stream
that already started reports its failure in-band instead. When every attempt fails, the client
gets the last error with each attempt listed.

A plan without a :class:`FallbackPolicy` tries each deployment once, in order, waiting
``router.backoff`` between attempts. With a policy (what :class:`~plano.routing.smart.
SmartRouter` plans carry):

* fresh deployments are tried first, at once; a deployment already tried is retried only for
  transient failures (429, 5xx, time-outs, connection errors), after a jittered backoff;
* a deployment that is cooling down (Retry-After) or whose breaker is open is skipped while
  another one is ready; when none is, the shortest wait is slept if it is within
  ``max_retry_after`` and the deadline, else the request fails now (with that Retry-After);
* attempts are capped, no attempt or wait starts after the deadline, and a non-stream attempt
  can have its own time limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from plano.errors import (
    DeploymentRefused,
    DeploymentsUnavailable,
    PlanoError,
    UnsupportedCapability,
    UpstreamTimeout,
    is_retryable,
)
from plano.pipeline.context import Attempt, RequestContext
from plano.providers.deployment import Deployment
from plano.routing.failures import FailureKind, classify
from plano.routing.router import ALL_FAILURES, AttemptTracker, FallbackPolicy, Plan, Router

__all__ = [
    "ALL_FAILURES",
    "AttemptTracker",
    "FallbackPolicy",
    "call_with_fallback",
]

T = TypeVar("T")

#: Failures worth retrying on the same deployment after a pause.
_TRANSIENT: Final = frozenset({"connect", "timeout", "rate_limit", "server_error"})


def _summary(ctx: RequestContext) -> str:
    return "; ".join(f"{a.deployment}: {a.status} {a.error or ''}".strip() for a in ctx.attempts)


def _with_attempts(err: PlanoError, ctx: RequestContext) -> PlanoError:
    if len(ctx.attempts) > 1 and "(attempts:" not in err.message:
        err.message = f"{err.message} (attempts: {_summary(ctx)})"
    return err


async def call_with_fallback(
    ctx: RequestContext,
    plan: Plan,
    router: Router,
    attempt: Callable[[RequestContext, Deployment], Awaitable[T]],
) -> T:
    if plan.policy is None:
        return await _in_order(ctx, plan, router, attempt)
    return await _Run(ctx, plan, plan.policy, router, plan.tracker).go(attempt)


async def _in_order(
    ctx: RequestContext,
    plan: Plan,
    router: Router,
    attempt: Callable[[RequestContext, Deployment], Awaitable[T]],
) -> T:
    limit = plan.max_attempts or len(plan.deployments)
    candidates = plan.deployments[:limit]
    for i, dep in enumerate(candidates):
        try:
            return await _one(ctx, dep, router, attempt, None, None)
        except PlanoError as err:
            last = i == len(candidates) - 1
            if last or not is_retryable(err) or ctx.committed:
                raise _with_attempts(err, ctx) from None
            delay = router.backoff(i, err)
            if delay > 0:
                await asyncio.sleep(delay)
    raise AssertionError("a plan has at least one deployment")


async def _one(
    ctx: RequestContext,
    dep: Deployment,
    router: Router,
    attempt: Callable[[RequestContext, Deployment], Awaitable[T]],
    tracker: AttemptTracker | None,
    limit: float | None,
) -> T:
    """One attempt, recorded in ``ctx.attempts`` and reported to the router."""
    ctx.deployment = dep
    started = time.perf_counter_ns()
    if tracker is not None:
        tracker.started(dep)
    try:
        if limit is None:
            result = await attempt(ctx, dep)
        else:
            try:
                async with asyncio.timeout(limit):
                    result = await attempt(ctx, dep)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"The provider '{dep.provider}' did not answer within {limit:g} s."
                ) from None
    except PlanoError as err:
        ms = (time.perf_counter_ns() - started) / 1e6
        ctx.attempts.append(Attempt(dep.key, err.status, err.metric_label, ms))
        if not isinstance(err, DeploymentRefused):  # a filter's refusal says nothing of it
            router.report(dep, err, ms, None)
        raise
    except asyncio.CancelledError:
        if ctx.answered:  # the client left after the whole answer: a success, not a 499
            _succeeded(ctx, dep, router, tracker, started)
        raise
    finally:
        if tracker is not None:
            tracker.ended(dep)
    _succeeded(ctx, dep, router, tracker, started)
    return result


def _succeeded(
    ctx: RequestContext,
    dep: Deployment,
    router: Router,
    tracker: AttemptTracker | None,
    started: int,
) -> None:
    ms = (time.perf_counter_ns() - started) / 1e6
    ctx.attempts.append(Attempt(dep.key, ctx.status, None, ms))
    # The deployment's own time to first token (not the failed attempts before it).
    ttft = ctx.ttft_ms()
    if ctx.first_token_ns and ctx.upstream_start_ns:
        ttft = (ctx.first_token_ns - ctx.upstream_start_ns) / 1e6
    router.report(dep, None, ms, ttft)
    if tracker is not None:
        tracker.succeeded(dep)


class _Run:
    """One request's way through a plan under a policy."""

    def __init__(
        self,
        ctx: RequestContext,
        plan: Plan,
        policy: FallbackPolicy,
        router: Router,
        tracker: AttemptTracker | None,
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.router = router
        self.tracker = tracker
        self.fresh = list(plan.deployments)
        self.retry: list[Deployment] = []
        self.tries: dict[str, int] = {}
        self.limit = (
            plan.max_attempts or policy.max_attempts or max(len(plan.deployments), policy.floor)
        )
        self.start = self._now()
        self.deadline = self.start + policy.deadline if policy.deadline else math.inf

    def _now(self) -> float:
        return self.tracker.now() if self.tracker is not None else time.monotonic()

    def _wait(self, dep: Deployment, now: float, err: PlanoError | None) -> float:
        wait = max(self.tracker.ready_at(dep) - now, 0.0) if self.tracker is not None else 0.0
        tried = self.tries.get(dep.key, 0)
        if tried and err is not None:
            wait = max(wait, self.router.backoff(tried - 1, err))
        return wait

    def _pick(self, err: PlanoError | None) -> tuple[Deployment, float] | None:
        """The candidate to try next and how long to wait for it (fresh ones first)."""
        now = self._now()
        best: tuple[float, int, Deployment] | None = None
        for rank, dep in enumerate([*self.fresh, *self.retry]):
            wait = self._wait(dep, now, err)
            if wait == 0.0 and rank < len(self.fresh):
                return dep, 0.0
            if best is None or wait < best[0]:
                best = (wait, rank, dep)
        if best is None:
            return None
        return best[2], best[0]

    async def go(self, attempt: Callable[[RequestContext, Deployment], Awaitable[T]]) -> T:
        err: PlanoError | None = None
        for _ in range(self.limit):
            picked = self._pick(err)
            if picked is None:
                break
            dep, wait = picked
            if wait > 0:
                if wait > self.policy.max_retry_after or self._now() + wait > self.deadline:
                    raise self._give_up(err, wait)
                await asyncio.sleep(wait)
            if dep in self.fresh:
                self.fresh.remove(dep)
            else:
                self.retry.remove(dep)
            self.tries[dep.key] = self.tries.get(dep.key, 0) + 1
            try:
                return await _one(
                    self.ctx, dep, self.router, attempt, self.tracker, self._timeout()
                )
            except PlanoError as failure:
                err = failure
                kind = classify(failure)
                if not self._may_go_on(failure, kind):
                    raise _with_attempts(failure, self.ctx) from None
                if kind in _TRANSIENT:
                    self.retry.append(dep)
                if self.tracker is not None:
                    self.tracker.failed_over(dep, kind)
            if self._now() >= self.deadline:
                break
        raise self._give_up(err, None)

    def _may_go_on(self, err: PlanoError, kind: FailureKind) -> bool:
        if self.ctx.committed:  # bytes went out: the relay reported it in-band
            return False
        if isinstance(err, UnsupportedCapability | DeploymentRefused):  # another one may
            return True
        return kind in self.policy.retry_on and (is_retryable(err) or kind != "client")

    def _timeout(self) -> float | None:
        t = self.policy.attempt_timeout
        return t if t is not None and not self.ctx.stream else None

    def _give_up(self, err: PlanoError | None, wait: float | None) -> PlanoError:
        if err is not None:
            if wait is not None and (err.retry_after or 0) < wait:
                err.retry_after = wait
            return _with_attempts(err, self.ctx)
        return DeploymentsUnavailable(
            "No deployment can take this request now: each one is cooling down after errors"
            f" or rate limits; retry in {math.ceil(wait or 1)} s.",
            code="no_deployment_available",
            retry_after=wait,
        )
