"""The fallback loop under a policy: what is retried, skipped, waited for, or given up."""

from __future__ import annotations

import time

import pytest
from tests.routing.smart_support import FakeClock, ctx, request, router

from plano.errors import (
    DeploymentsUnavailable,
    InvalidRequest,
    PlanoError,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.routing import metrics as m
from plano.routing.failures import classify
from plano.routing.fallback import call_with_fallback
from plano.routing.router import Plan

POOL = {"chat": {"strategy": "round_robin", "deployments": ["mini-a", "mini-b"]}}
FAST_BACKOFF = {"backoff": {"initial": "10ms", "max": "20ms"}}


class Script:
    """Per deployment: a list of outcomes consumed in order (an error, or "ok")."""

    def __init__(self, **outcomes: list[PlanoError | str]) -> None:
        self.outcomes = {k.replace("_", "-"): v for k, v in outcomes.items()}
        self.called: list[str] = []

    async def __call__(self, ctx: RequestContext, dep: Deployment) -> str:
        self.called.append(dep.key)
        queue = self.outcomes.get(dep.key, ["ok"])
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, PlanoError):
            raise outcome
        return f"answer from {dep.key}"


def e429(after: float | None = None) -> UpstreamStatusError:
    return UpstreamStatusError("Rate limit reached", status=429, retry_after=after)


def e500() -> UpstreamStatusError:
    return UpstreamStatusError("boom", status=500)


async def run(r: object, script: Script, model: str = "chat", stream: bool = False) -> str:
    c = ctx(request(model, stream=stream))
    plan = r.plan(c)  # type: ignore[attr-defined]
    assert isinstance(plan, Plan)
    result: str = await call_with_fallback(c, plan, r, script)  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (UpstreamConnectError("x"), "connect"),
        (UpstreamTimeout("x"), "timeout"),
        (e429(), "rate_limit"),
        (e500(), "server_error"),
        (UpstreamStatusError("x", status=400, code="context_length_exceeded"), "context_length"),
        (UpstreamStatusError("prompt is too long: 300000 tokens", status=400), "context_length"),
        (UpstreamStatusError("x", status=400, code="content_filter"), "content_policy"),
        (UpstreamStatusError("bad", status=400), "client"),
        (InvalidRequest("bad"), "client"),
    ],
)
def test_classify(err: PlanoError, kind: str) -> None:
    assert classify(err) == kind


async def test_429_with_retry_after_moves_on_and_skips_it_later() -> None:
    r = router(FakeClock(), model_pools=POOL)
    script = Script(mini_a=[e429(30)], mini_b=["ok"])
    assert await run(r, script) == "answer from mini-b"
    assert script.called == ["mini-a", "mini-b"]
    script.called.clear()
    for _ in range(4):  # round robin would pick mini-a every other time: it is cooling
        assert await run(r, script) == "answer from mini-b"
    assert script.called == ["mini-b"] * 4
    assert r.counters.get(m.FALLBACKS, deployment="mini-a", reason="rate_limit") == 1


async def test_only_deployment_short_retry_after_is_waited_out() -> None:
    r = router(FakeClock(), fallback={"max_retry_after": "1s", **FAST_BACKOFF})
    script = Script(mini_a=[e429(0.05), "ok"])
    started = time.monotonic()
    assert await run(r, script, "mini-a") == "answer from mini-a"
    assert script.called == ["mini-a", "mini-a"]
    assert time.monotonic() - started >= 0.04


async def test_only_deployment_long_retry_after_is_answered_not_slept() -> None:
    r = router(FakeClock(), fallback={"max_retry_after": "1s"})
    script = Script(mini_a=[e429(30)])
    started = time.monotonic()
    with pytest.raises(UpstreamStatusError) as exc:
        await run(r, script, "mini-a")
    assert time.monotonic() - started < 0.5
    assert exc.value.status == 429 and exc.value.retry_after == 30


async def test_server_errors_retry_with_backoff_up_to_the_cap() -> None:
    r = router(FakeClock(), fallback={"max_attempts": 3, **FAST_BACKOFF})
    script = Script(mini_a=[e500()])
    with pytest.raises(UpstreamStatusError) as exc:
        await run(r, script, "mini-a")
    assert script.called == ["mini-a"] * 3
    assert "attempts: mini-a: 500" in exc.value.message


async def test_context_length_moves_on_but_never_retries_the_same() -> None:
    r = router(FakeClock(), fallback={"models": {"mini-a": ["openai/gpt-4o"]}, **FAST_BACKOFF})
    too_long = UpstreamStatusError("too long", status=400, code="context_length_exceeded")
    script = Script(mini_a=[too_long], openai_gpt_4o=[too_long])
    script.outcomes["openai/gpt-4o"] = [too_long]
    with pytest.raises(UpstreamStatusError):
        await run(r, script, "mini-a")
    assert script.called == ["mini-a", "openai/gpt-4o"]


async def test_client_errors_stop_at_once() -> None:
    r = router(FakeClock(), model_pools=POOL)
    script = Script(mini_a=[UpstreamStatusError("bad", status=400)], mini_b=[e500()])
    with pytest.raises(UpstreamStatusError) as exc:
        await run(r, script)
    assert exc.value.status == 400 and script.called == ["mini-a"]


async def test_retry_on_limits_which_failures_fall_back() -> None:
    r = router(FakeClock(), model_pools=POOL, fallback={"retry_on": ["rate_limit"]})
    script = Script(mini_a=[e500()])
    with pytest.raises(UpstreamStatusError):
        await run(r, script)
    assert script.called == ["mini-a"]


async def test_open_breakers_fail_fast_with_retry_after() -> None:
    clock = FakeClock()
    r = router(
        clock,
        fallback={
            "circuit_breaker": {"consecutive_failures": 2, "cooldown": "30s"},
            **FAST_BACKOFF,
        },
    )
    script = Script(mini_a=[UpstreamConnectError("refused")])
    with pytest.raises(UpstreamConnectError):
        await run(r, script, "mini-a")
    script.called.clear()
    with pytest.raises(DeploymentsUnavailable) as exc:
        await run(r, script, "mini-a")
    assert script.called == [] and exc.value.status == 503
    assert exc.value.retry_after == pytest.approx(30, abs=0.1)
    clock.advance(31)  # cooled down: one probe goes through and closes the breaker
    script.outcomes["mini-a"] = ["ok"]
    assert await run(r, script, "mini-a") == "answer from mini-a"
    assert r.health.get("mini-a").breaker.state == "closed"
    assert r.counters.get(m.BREAKER_TRANSITIONS, deployment="mini-a", state="open") == 1


async def test_deadline_stops_new_attempts() -> None:
    clock = FakeClock()
    r = router(clock, fallback={"deadline": "5s", "max_attempts": 10, **FAST_BACKOFF})

    async def slow_failure(c: RequestContext, dep: Deployment) -> str:
        clock.advance(3)
        raise e500()

    c = ctx(request("mini-a"))
    plan = r.plan(c)
    assert isinstance(plan, Plan)
    with pytest.raises(UpstreamStatusError):
        await call_with_fallback(c, plan, r, slow_failure)
    assert len(c.attempts) == 2


async def test_in_flight_is_counted_and_released() -> None:
    r = router(FakeClock())
    seen: list[int] = []

    async def look(c: RequestContext, dep: Deployment) -> str:
        seen.append(r.health.get(dep.key).in_flight)
        return "ok"

    c = ctx(request("mini-a"))
    plan = r.plan(c)
    assert isinstance(plan, Plan)
    await call_with_fallback(c, plan, r, look)
    assert seen == [1] and r.health.get("mini-a").in_flight == 0


async def test_no_fallback_once_the_stream_started() -> None:
    r = router(FakeClock(), model_pools=POOL)

    async def started_then_failed(c: RequestContext, dep: Deployment) -> str:
        c.committed = True
        raise UpstreamTimeout("idle")

    c = ctx(request("chat", stream=True))
    plan = r.plan(c)
    assert isinstance(plan, Plan)
    with pytest.raises(UpstreamTimeout):
        await call_with_fallback(c, plan, r, started_then_failed)
    assert len(c.attempts) == 1
