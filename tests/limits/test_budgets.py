"""plano.limits.budgets: reserve the worst case per attempt, settle on what was billed,
release what failed over, refuse with a 429 that says why, warn past the soft limit, and fail
closed (or open) when the store is down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.limits.support import DownCounters, context, dep, key, request, upstream

from plano.accounting.pricing import PriceBook
from plano.config.limits import Budget
from plano.core.model import Usage
from plano.errors import BudgetExceeded, DeploymentRefused, InvalidRequest
from plano.limits.budgets import BudgetFilter, BudgetRule
from plano.limits.estimate import ModelLimits, nano_usd
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.store.memory import MemoryCounters
from plano.store.protocols import Counters, StoreUnavailable

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC).timestamp()
NANO = 1_000_000_000


def rule(**kw: Any) -> BudgetRule:
    return BudgetRule.of(Budget(**{"name": "b", "scope": "global", **kw}))


def make(*rules: BudgetRule, counters: Counters | None = None, **kw: Any) -> BudgetFilter:
    return BudgetFilter(
        rules,
        counters or MemoryCounters(),
        PriceBook(),
        lambda _dep: ModelLimits(128_000, 16_384),
        clock=lambda: NOW,
        **kw,
    )


async def admit(f: BudgetFilter, ctx: RequestContext, d: Deployment | None = None) -> None:
    d = d or dep()
    ctx.deployment = d
    assert ctx.request is not None
    await f.on_upstream_request(ctx, d, upstream(ctx.request))


async def answer(f: BudgetFilter, ctx: RequestContext, usage: Usage | None) -> None:
    """The request ends: accounting's usage and cost, then the budget's settlement."""
    ctx.usage = usage
    d = ctx.deployment
    if usage is not None and d is not None:
        ctx.cost = PriceBook().cost(d.provider, d.model_id, usage)
    await f.on_complete(ctx)
    await f.idle()  # the settlement, off the request's task


async def used(f: BudgetFilter, key: str) -> tuple[float, float]:
    return await f.counters.get(key)


USD = "b:b:d2026-12-02:*:usd"
TOK = "b:b:d2026-12-02:*:tok"


async def test_a_request_holds_its_worst_case_then_spends_what_it_cost() -> None:
    f = make(rule(usd="1", tokens=100_000, period="day"))
    ctx = context()
    await admit(f, ctx)
    held_usd = (await used(f, USD))[1]
    body = len(upstream(ctx.request).body)  # type: ignore[arg-type]
    assert held_usd == (body + 24) * 150 + 16 * 600  # gpt-4o-mini: 150 and 600 nano a token
    assert await used(f, TOK) == (0, body + 24 + 16)
    usage = Usage(8, 16)
    await answer(f, ctx, usage)
    cost = nano_usd(PriceBook().cost("openai", "gpt-4o-mini", usage))  # type: ignore[arg-type]
    assert await used(f, USD) == (cost, 0)
    assert await used(f, TOK) == (24, 0)


async def test_a_failed_over_attempt_releases_its_hold_before_the_next() -> None:
    f = make(rule(usd="1", period="day"))
    ctx = context()
    await admit(f, ctx, dep("gpt-4o"))
    first = (await used(f, USD))[1]
    await admit(f, ctx, dep("gpt-4o-mini"))  # gpt-4o failed: fallback to mini
    second = (await used(f, USD))[1]
    assert 0 < second < first  # only mini's (cheaper) hold remains
    await answer(f, ctx, Usage(8, 16))
    assert (await used(f, USD))[1] == 0


async def test_a_request_that_used_nothing_releases() -> None:
    f = make(rule(usd="1", period="day"))
    ctx = context()
    await admit(f, ctx)
    ctx.status = 502
    await answer(f, ctx, None)
    assert await used(f, USD) == (0, 0)


async def test_a_client_gone_mid_stream_is_settled_on_what_was_generated() -> None:
    f = make(rule(usd="1", period="day"))
    ctx = context()
    await admit(f, ctx)
    ctx.client_closed = True
    partial = Usage(8, 5, estimated=True)  # accounting counted the text that went out
    await answer(f, ctx, partial)
    spent = nano_usd(PriceBook().cost("openai", "gpt-4o-mini", partial))  # type: ignore[arg-type]
    assert await used(f, USD) == (spent, 0)


async def test_over_budget_is_refused_with_the_budget_named_and_retry_after() -> None:
    f = make(rule(usd="0.00005", period="day", scope="team"))
    ctx = context(principal=key("k-1", team="red"))
    await f.counters.add("b:b:d2026-12-02:red:usd", 40_000)  # $0.00004 spent
    with pytest.raises(BudgetExceeded) as caught:
        await admit(f, ctx)
    err = caught.value
    assert err.status == 429 and err.code == "budget_exceeded" and err.retryable
    assert err.message.startswith(
        "Budget 'b' (team 'red') cannot cover this request: $0.00004 of $0.00005 is spent "
        "or held today (UTC), and the request may cost up to $0.0000"
    )
    assert "on openai/gpt-4o-mini. It resets at 2026-12-03T00:00:00Z." in err.message
    assert err.retry_after == 6 * 3600
    assert ctx.response_headers["x-should-retry"] == "false"
    assert [(d.source, d.action, d.rule) for d in ctx.decisions] == [("budget", "deny", "b")]
    assert (await used(f, "b:b:d2026-12-02:red:usd"))[1] == 0  # nothing held


async def test_a_request_bigger_than_the_whole_budget_says_so() -> None:
    f = make(rule(tokens=1000, period="total"))
    with pytest.raises(BudgetExceeded) as caught:
        await admit(f, context(request("x" * 5000)))
    msg = caught.value.message
    assert "it may use up to" in msg and "more than the budget's 1,000 tokens in total" in msg
    assert caught.value.retry_after is None  # a total budget never resets


async def test_a_later_attempt_that_fits_drops_the_no_retry_header() -> None:
    f = make(rule(usd="0.0002", period="day"))
    ctx = context(request(max_tokens=200))
    with pytest.raises(BudgetExceeded):
        await admit(f, ctx, dep("gpt-4o"))  # $2.5/$10 a Mtok: more than the budget
    await admit(f, ctx, dep("gpt-4o-mini"))  # the fallback fits
    assert "x-should-retry" not in ctx.response_headers


async def test_concurrent_admissions_never_hold_more_than_the_budget() -> None:
    f = make(rule(usd="0.0005", period="day"))
    per = (83 + 24) * 150 + 16 * 600  # one request's worst case
    admitted = refused = 0
    contexts = []
    for _ in range(100):
        ctx = context()
        try:
            await admit(f, ctx)
            admitted += 1
            contexts.append(ctx)
        except BudgetExceeded:
            refused += 1
    assert admitted == 500_000 // per and refused == 100 - admitted
    assert (await used(f, USD))[1] == admitted * per <= 500_000


async def test_soft_limit_warns_with_a_header_a_decision_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = make(rule(usd="0.0002", period="day", soft=0.5))
    ctx = context()
    await admit(f, ctx)  # ~13% held
    assert "x-plano-budget-warning" not in ctx.response_headers
    await f.counters.add(USD, 60_000)
    with caplog.at_level(logging.WARNING, "plano.budgets"):
        for _ in range(2):
            ctx = context()
            await admit(f, ctx)
    assert ctx.response_headers["x-plano-budget-warning"].startswith("b ")
    assert "% of $0.0002 day" in ctx.response_headers["x-plano-budget-warning"]
    assert [(d.action, d.rule) for d in ctx.decisions] == [("flag", "b")]
    assert len([r for r in caplog.records if "soft limit 50%" in r.getMessage()]) == 1


async def test_scopes_match_and_key_named_budgets() -> None:
    team = rule(name="team", scope="team", match=["red"], tokens=10**6)
    keyed = rule(name="keyed", scope="key", applies="key", tokens=10**6)
    f = make(team, keyed)
    blue = context(principal=key("k-1", team="blue"))
    await admit(f, blue)
    assert f._applying(blue, dep()) == []
    red = context(principal=key("k-2", team="red", budgets=("keyed",)))
    assert [(r.name, v) for r, v in f._applying(red, dep())] == [("team", "red"), ("keyed", "k-2")]


async def test_budgets_on_other_models_do_not_apply() -> None:
    f = make(rule(tokens=1000, models=["anthropic/*"]))
    ctx = context(request("x" * 5000))
    await admit(f, ctx)  # a gpt-4o-mini request: not counted
    assert f._applying(ctx, dep()) == []


async def test_a_dollar_budget_on_a_model_without_a_price() -> None:
    unknown = dep("my-finetune", "ollama")
    with pytest.raises(DeploymentRefused) as caught:
        await admit(make(rule(usd="1")), context(), unknown)
    assert caught.value.code == "budget_unpriced_model" and caught.value.status == 403
    free = make(rule(usd="1", tokens=10**6, unpriced="free"))
    ctx = context()
    await admit(free, ctx, unknown)  # counted in tokens only
    assert (await used(free, "b:b:m2026-12:*:tok"))[1] > 0


async def test_no_output_bound_is_a_400_that_asks_for_max_tokens() -> None:
    f = BudgetFilter([rule(usd="1")], MemoryCounters(), PriceBook(), lambda _d: ModelLimits())
    with pytest.raises(InvalidRequest) as caught:
        await admit(f, context(request(max_tokens=None)))
    assert caught.value.param == "max_tokens"


async def test_default_max_tokens_is_sent_when_the_request_has_none() -> None:
    f = make(rule(usd="1", default_max_tokens=64), rule(name="c", usd="1", default_max_tokens=32))
    req = request(max_tokens=None)
    req.raw_body = b"{}"
    await f.on_request(context(req))
    assert req.max_tokens == 32 and req.raw_body is None  # encoded anew, with max_tokens
    given = request(max_tokens=500)
    await f.on_request(context(given))
    assert given.max_tokens == 500


async def test_store_down_fails_closed_with_a_503() -> None:
    f = make(rule(usd="1"), counters=DownCounters())
    ctx = context()
    with pytest.raises(StoreUnavailable) as caught:
        await admit(f, ctx)
    assert caught.value.status == 503 and "not sent" in caught.value.message
    assert [(d.action, d.reason) for d in ctx.decisions] == [
        ("deny", "hot store unavailable; failing closed")
    ]


async def test_store_down_fails_open_when_configured_and_counts_when_it_returns() -> None:
    down = DownCounters()
    f = make(rule(usd="1", period="day", on_store_error="open"), counters=down)
    ctx = context()
    await admit(f, ctx)
    assert ctx.decisions[-1].action == "allow"
    down.up = True  # back before the answer ends: the spend is counted, unreserved
    await answer(f, ctx, Usage(8, 16))
    assert (await used(f, USD))[0] > 0


async def test_settle_retries_a_store_that_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    down = DownCounters()
    down.up = True
    f = make(rule(usd="1", period="day"), counters=down)
    ctx = context()
    await admit(f, ctx)
    down.up = False
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)
        down.up = True

    monkeypatch.setattr("plano.limits.budgets.asyncio.sleep", sleep)
    await answer(f, ctx, Usage(8, 16))
    assert waits == [0.2] and (await used(f, USD))[0] > 0


def test_rule_amounts_are_whole_nano_dollars() -> None:
    r = rule(usd=Decimal("10.5"), tokens=5)
    assert r.nano_usd == 10.5 * NANO and r.tokens == 5 and r.period == "month"
