"""plano.limits.ratelimits: requests and tokens per window, OpenAI's headers that decrease
request by request, one count per request whatever its attempts, Plano's ``ratelimits`` key as
Plano documents it, and a store that is down."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tests.limits.support import DownCounters, context, dep, key, request, upstream

from plano.accounting.tokens import TokenCounter
from plano.config.limits import RateLimitRule
from plano.config.sections import RateLimit
from plano.core.model import Usage
from plano.errors import RateLimited
from plano.limits.ratelimits import PlanoRule, RateLimitFilter, RateRule
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.store.memory import MemoryCounters
from plano.store.protocols import Counters, StoreUnavailable

NOW = 1_800_000_000.0  # at a minute's start: the windows' arithmetic is exact
COUNTER = TokenCounter()
COUNTER.load()  # exact counts from the first request (else estimates until it loads)


def ours(**kw: Any) -> RateRule:
    return RateRule.of(RateLimitRule(**{"scope": "global", **kw}), 0)


def plano(model: str, header: str, value: str, tokens: int, unit: str = "minute") -> PlanoRule:
    entry = {
        "model": model,
        "selector": {"key": header, "value": value},
        "limit": {"tokens": tokens, "unit": unit},
    }
    return PlanoRule.of(RateLimit.model_validate(entry), 0)


def make(
    *rules: RateRule, plano_rules: tuple[PlanoRule, ...] = (), counters: Counters | None = None
) -> RateLimitFilter:
    counters = counters or MemoryCounters(clock=lambda: NOW)
    return RateLimitFilter(rules, plano_rules, counters, COUNTER, clock=lambda: NOW)


async def attempt(f: RateLimitFilter, ctx: RequestContext, d: Deployment | None = None) -> None:
    assert ctx.request is not None
    await f.on_upstream_request(ctx, d or dep(), upstream(ctx.request))


async def test_remaining_requests_decrease_then_429_with_retry_after() -> None:
    f = make(ours(requests=3, per="minute"))
    remaining = []
    for _ in range(3):
        ctx = context()
        await attempt(f, ctx)
        h = ctx.response_headers
        assert h["x-ratelimit-limit-requests"] == "3"
        assert h["x-ratelimit-reset-requests"] == "2m0s"  # at a bucket's start
        remaining.append(h["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    ctx = context()
    with pytest.raises(RateLimited) as caught:
        await attempt(f, ctx)
    err = caught.value
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert err.message == (
        "Rate limit 'rate_limits[0]' reached: 3 requests per minute (used 3, requested 1). "
        "Try again in 1m21s."
    )
    # 3 in this minute: one more fits once they weigh 2, a third into the next minute.
    assert err.retry_after is not None and 80 < err.retry_after < 81
    assert ctx.response_headers["x-ratelimit-remaining-requests"] == "0"
    assert ctx.response_headers["x-ratelimit-reset-requests"] == "1m21s"
    assert [(d.source, d.action) for d in ctx.decisions] == [("rate_limit", "deny")]


async def test_a_request_counts_once_whatever_its_attempts() -> None:
    f = make(ours(requests=2))
    ctx = context()
    for _ in range(3):  # three attempts (fallback)
        await attempt(f, ctx)
    assert ctx.response_headers["x-ratelimit-remaining-requests"] == "1"
    await attempt(f, context())  # a second request still fits


async def test_model_limits_count_each_model_called() -> None:
    f = make(ours(name="per-model", scope="model", requests=1))
    ctx = context()
    await attempt(f, ctx, dep("gpt-4o"))
    await attempt(f, ctx, dep("gpt-4o-mini"))  # another model: its own window
    with pytest.raises(RateLimited) as caught:
        await attempt(f, context(), dep("gpt-4o"))
    assert "'per-model' (model 'openai/gpt-4o')" in caught.value.message


async def test_scoped_limits_keep_a_window_per_value() -> None:
    f = make(ours(name="per-key", scope="key", requests=1))
    await attempt(f, context(principal=key("k-1")))
    await attempt(f, context(principal=key("k-2")))
    with pytest.raises(RateLimited) as caught:
        await attempt(f, context(principal=key("k-1")))
    assert "'per-key' (key 'k-1')" in caught.value.message
    user = make(ours(scope="user", requests=1))
    for _ in range(3):
        await attempt(user, context())  # no user: the limit does not apply


async def test_a_key_that_names_a_limit_brings_it_in() -> None:
    f = make(ours(name="gold", scope="key", requests=1, applies="key"))
    for _ in range(2):
        await attempt(f, context(principal=key("k-1")))  # not named: not limited
    await attempt(f, context(principal=key("k-2", rate_limits=("gold",))))
    with pytest.raises(RateLimited):
        await attempt(f, context(principal=key("k-2", rate_limits=("gold",))))


async def test_tokens_count_the_input_then_the_output() -> None:
    f = make(ours(tokens=120))
    req = request("word " * 60)
    n = COUNTER.count_request(req, "gpt-4o-mini", load=False)
    ctx = context(req)
    await attempt(f, ctx)
    first = int(ctx.response_headers["x-ratelimit-remaining-tokens"])
    assert first == 120 - n
    ctx.usage = Usage(60, 30)
    await f.on_complete(ctx)
    await f.close()
    small = context(request("hi"))
    await attempt(f, small)
    assert int(small.response_headers["x-ratelimit-remaining-tokens"]) < first - 30
    with pytest.raises(RateLimited) as caught:
        await attempt(f, context(req))
    assert "120 tokens per minute" in caught.value.message


async def test_a_request_above_the_whole_limit_says_so() -> None:
    f = make(ours(tokens=10))
    with pytest.raises(RateLimited) as caught:
        await attempt(f, context(request("word " * 50)))
    assert "allows 10 tokens per minute; this request alone needs" in caught.value.message


# ---------------------------------------------------------------- Plano's ratelimits key


def with_selector(header: str, value: str, **more: str) -> dict[str, str]:
    return {"x-arch-ratelimit-selector": header, header.lower(): value, **more}


async def test_plano_limits_need_the_selector_header() -> None:
    f = make(plano_rules=(plano("openai/gpt-4o-mini", "x-user", "*", 10),))
    big = request("word " * 50)
    for _ in range(3):  # no x-arch-ratelimit-selector: no limit, no headers
        ctx = context(big, headers={"x-user": "ann"})
        await attempt(f, ctx)
        assert "x-ratelimit-limit-tokens" not in ctx.response_headers
    ctx = context(big, headers=with_selector("x-user", "ann"))
    with pytest.raises(RateLimited) as caught:
        await attempt(f, ctx)
    assert caught.value.message.startswith(
        "Rate limit ratelimits[0] (x-user 'ann') allows 10 input tokens per minute"
    )
    assert ctx.response_headers["x-ratelimit-limit-tokens"] == "10"
    # The selector names a header the request lacks: nothing applies.
    await attempt(f, context(big, headers={"x-arch-ratelimit-selector": "x-user"}))


async def test_plano_star_is_a_bucket_per_value() -> None:
    tokens = COUNTER.count_request(request("hi"), "gpt-4o-mini", load=False)
    f = make(plano_rules=(plano("gpt-4o-mini", "x-user", "*", 3 * tokens),))
    for user in ("ann", "bob", "cy"):
        for _ in range(3):
            await attempt(f, context(headers=with_selector("X-User", user)))
        with pytest.raises(RateLimited):
            await attempt(f, context(headers=with_selector("x-user", user)))


async def test_plano_literal_values_apply_to_that_value_only() -> None:
    f = make(plano_rules=(plano("openai/gpt-4o-mini", "x-team", "red", 1, "hour"),))
    for _ in range(3):
        await attempt(f, context(headers=with_selector("x-team", "blue")))
    with pytest.raises(RateLimited) as caught:
        await attempt(f, context(headers=with_selector("x-team", "red")))
    assert "input tokens per hour" in caught.value.message


async def test_plano_limits_are_per_model_by_either_name() -> None:
    bare = make(plano_rules=(plano("gpt-4o", "x-user", "*", 1),))
    await attempt(bare, context(headers=with_selector("x-user", "ann")))  # mini: not limited
    with pytest.raises(RateLimited):
        await attempt(bare, context(headers=with_selector("x-user", "ann")), dep("gpt-4o"))


# ---------------------------------------------------------------- the store


async def test_store_down_fails_open_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    f = make(ours(requests=1), counters=DownCounters())
    with caplog.at_level(logging.WARNING, "plano.ratelimits"):
        for _ in range(3):
            ctx = context()
            await attempt(f, ctx)
    assert "x-ratelimit-limit-requests" not in ctx.response_headers
    assert len([r for r in caplog.records if "admitting" in r.getMessage()]) == 1


async def test_store_down_fails_closed_when_configured() -> None:
    f = make(ours(requests=1, on_store_error="closed"), counters=DownCounters())
    with pytest.raises(StoreUnavailable) as caught:
        await attempt(f, context())
    assert caught.value.status == 503 and "not sent" in caught.value.message


async def test_a_fallback_attempt_keeps_the_headers_of_the_windows_already_counted() -> None:
    f = make(ours(name="tight", requests=3), ours(name="loose", scope="model", requests=100))
    ctx = context()
    await attempt(f, ctx, dep("gpt-4o"))
    await attempt(f, ctx, dep("gpt-4o-mini"))  # 'tight' is not counted again
    assert ctx.response_headers["x-ratelimit-limit-requests"] == "3"
    assert ctx.response_headers["x-ratelimit-remaining-requests"] == "2"
