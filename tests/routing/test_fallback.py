"""call_with_fallback with a fake attempt function and a fake router; StaticRouter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from plano.core.model import ChatRequest, Message
from plano.errors import (
    InvalidRequest,
    PlanoError,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS
from plano.routing.catalog import ModelCatalog
from plano.routing.fallback import call_with_fallback
from plano.routing.router import Plan, StaticRouter


def _dep(name: str) -> Deployment:
    provider, model = name.split("/")
    return Deployment(name, provider, model, KNOWN_PROVIDERS["openai"], "http://127.0.0.1:1")


A, B, C = _dep("openai/a"), _dep("openai/b"), _dep("openai/c")


@dataclass
class FakeRouter:
    delay: float = 0.0
    reports: list[tuple[str, str | None, float | None]] = field(default_factory=list)
    backoffs: list[tuple[int, str]] = field(default_factory=list)

    def plan(self, ctx: RequestContext) -> Plan:
        raise NotImplementedError

    def report(
        self, dep: Deployment, error: PlanoError | None, latency_ms: float, ttft_ms: float | None
    ) -> None:
        assert latency_ms >= 0
        self.reports.append((dep.name, error.metric_label if error else None, ttft_ms))

    def backoff(self, attempt: int, error: PlanoError) -> float:
        self.backoffs.append((attempt, error.metric_label))
        return self.delay


class Script:
    """An attempt function that fails or answers per deployment, recording what it saw."""

    def __init__(self, outcomes: dict[str, PlanoError | str]) -> None:
        self.outcomes = outcomes
        self.called: list[str] = []

    async def __call__(self, ctx: RequestContext, dep: Deployment) -> str:
        assert ctx.deployment is dep
        self.called.append(dep.name)
        out = self.outcomes[dep.name]
        if isinstance(out, PlanoError):
            raise out
        return out


def _ctx() -> RequestContext:
    return RequestContext(request_id="r", shape="openai_chat", headers={})


async def test_first_success_returns_and_records_one_attempt() -> None:
    ctx, router = _ctx(), FakeRouter()
    script = Script({"openai/a": "answer-a", "openai/b": "answer-b"})
    assert await call_with_fallback(ctx, Plan([A, B]), router, script) == "answer-a"
    assert script.called == ["openai/a"]
    assert [(a.deployment, a.status, a.error) for a in ctx.attempts] == [("openai/a", 200, None)]
    assert ctx.deployment is A
    assert router.reports == [("openai/a", None, None)]


@pytest.mark.parametrize(
    "err",
    [
        UpstreamConnectError("refused"),
        UpstreamTimeout("slow"),
        UpstreamStatusError("busy", status=429),
        UpstreamStatusError("down", status=503),
        UpstreamStatusError("conflict", status=409),
    ],
)
async def test_retryable_errors_move_on(err: PlanoError) -> None:
    ctx, router = _ctx(), FakeRouter()
    script = Script({"openai/a": err, "openai/b": "answer-b"})
    assert await call_with_fallback(ctx, Plan([A, B]), router, script) == "answer-b"
    assert script.called == ["openai/a", "openai/b"]
    assert [(a.deployment, a.status, a.error) for a in ctx.attempts] == [
        ("openai/a", err.status, err.metric_label),
        ("openai/b", 200, None),
    ]
    assert ctx.deployment is B
    assert [r[:2] for r in router.reports] == [
        ("openai/a", err.metric_label),
        ("openai/b", None),
    ]
    assert router.backoffs == [(0, err.metric_label)]
    assert err.message.find("attempts") == -1  # a recovered error is not decorated


@pytest.mark.parametrize(
    "err",
    [
        InvalidRequest("bad"),
        UpstreamStatusError("bad request", status=400),
        UpstreamStatusError("bad key", status=401),
        UpstreamStatusError("no model", status=404),
    ],
)
async def test_non_retryable_errors_stop(err: PlanoError) -> None:
    ctx, router = _ctx(), FakeRouter()
    script = Script({"openai/a": err, "openai/b": "answer-b"})
    with pytest.raises(type(err)) as info:
        await call_with_fallback(ctx, Plan([A, B]), router, script)
    assert info.value is err
    assert script.called == ["openai/a"]
    assert len(ctx.attempts) == 1
    assert "attempts" not in err.message  # a single attempt is not summarised
    assert router.backoffs == []


async def test_a_started_stream_stops_fallback() -> None:
    ctx, router = _ctx(), FakeRouter()

    async def attempt(ctx: RequestContext, dep: Deployment) -> str:
        ctx.committed = True  # the first byte went out
        raise UpstreamConnectError("broke mid-stream")

    with pytest.raises(UpstreamConnectError):
        await call_with_fallback(ctx, Plan([A, B]), router, attempt)
    assert [a.deployment for a in ctx.attempts] == ["openai/a"]


async def test_all_failed_lists_every_attempt_in_the_last_error() -> None:
    ctx, router = _ctx(), FakeRouter()
    last = UpstreamStatusError("overloaded", status=529)
    script = Script(
        {
            "openai/a": UpstreamConnectError("refused"),
            "openai/b": UpstreamTimeout("slow"),
            "openai/c": last,
        }
    )
    with pytest.raises(UpstreamStatusError) as info:
        await call_with_fallback(ctx, Plan([A, B, C]), router, script)
    assert info.value is last
    assert info.value.status == 529
    assert info.value.message == (
        "overloaded (attempts: openai/a: 502 upstream_connect; "
        "openai/b: 504 upstream_timeout; openai/c: 529 upstream_status)"
    )
    assert router.backoffs == [(0, "upstream_connect"), (1, "upstream_timeout")]


async def test_retryable_then_non_retryable_lists_both() -> None:
    ctx, router = _ctx(), FakeRouter()
    script = Script(
        {
            "openai/a": UpstreamStatusError("busy", status=429),
            "openai/b": UpstreamStatusError("bad", status=400),
            "openai/c": "never",
        }
    )
    with pytest.raises(UpstreamStatusError) as info:
        await call_with_fallback(ctx, Plan([A, B, C]), router, script)
    assert script.called == ["openai/a", "openai/b"]
    assert info.value.message == (
        "bad (attempts: openai/a: 429 upstream_status; openai/b: 400 upstream_status)"
    )


async def test_max_attempts_limits_the_plan() -> None:
    ctx, router = _ctx(), FakeRouter()
    script = Script(
        {"openai/a": UpstreamTimeout("1"), "openai/b": UpstreamTimeout("2"), "openai/c": "ok"}
    )
    with pytest.raises(UpstreamTimeout):
        await call_with_fallback(ctx, Plan([A, B, C], max_attempts=2), router, script)
    assert script.called == ["openai/a", "openai/b"]


async def test_backoff_delay_is_honoured() -> None:
    ctx, router = _ctx(), FakeRouter(delay=0.05)
    script = Script({"openai/a": UpstreamTimeout("slow"), "openai/b": "ok"})
    t0 = time.perf_counter()
    assert await call_with_fallback(ctx, Plan([A, B]), router, script) == "ok"
    assert time.perf_counter() - t0 >= 0.045


async def test_zero_backoff_does_not_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("plano.routing.fallback.asyncio.sleep", fake_sleep)
    ctx, router = _ctx(), FakeRouter(delay=0.0)
    script = Script({"openai/a": UpstreamTimeout("slow"), "openai/b": "ok"})
    await call_with_fallback(ctx, Plan([A, B]), router, script)
    assert slept == []


async def test_success_reports_ttft_and_the_context_status() -> None:
    ctx, router = _ctx(), FakeRouter()

    async def attempt(ctx: RequestContext, dep: Deployment) -> str:
        ctx.first_token_ns = ctx.started_ns + 3_000_000
        ctx.status = 201
        return "ok"

    await call_with_fallback(ctx, Plan([A]), router, attempt)
    assert ctx.attempts[0].status == 201
    (report,) = router.reports
    assert report[2] == pytest.approx(3.0)


async def test_non_plano_exceptions_propagate_unrecorded() -> None:
    ctx, router = _ctx(), FakeRouter()

    async def attempt(ctx: RequestContext, dep: Deployment) -> str:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        await call_with_fallback(ctx, Plan([A, B]), router, attempt)
    assert ctx.attempts == []


# ---------------------------------------------------------------- StaticRouter


@dataclass
class _Entry:
    model: str
    name: str | None = None
    access_key: str | None = "k"
    default: bool | None = None
    base_url: str | None = None
    passthrough_auth: bool | None = None
    headers: dict[str, str] | None = None
    provider_interface: str | None = None

    @property
    def provider(self) -> str:
        return self.model.split("/")[0]

    @property
    def model_id(self) -> str:
        return self.model.split("/")[1]

    @property
    def is_wildcard(self) -> bool:
        return False


async def test_static_router_plans_the_resolved_deployment() -> None:
    router = StaticRouter(ModelCatalog([_Entry("openai/gpt-4o")]))
    ctx = _ctx()
    ctx.request = ChatRequest(model="gpt-4o", messages=[Message("user")])
    plan = router.plan(ctx)
    assert [d.name for d in plan.deployments] == ["openai/gpt-4o"]
    assert plan.max_attempts is None
    assert router.backoff(0, UpstreamTimeout("x")) == 0.0
    assert router.report(plan.deployments[0], None, 1.0, None) is None
