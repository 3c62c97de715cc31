"""Budgets and rate limits through real `plano up` processes and the simulated providers.

The overrun tests send 200 concurrent requests (half streamed, half without max_tokens) at a
dollar budget far smaller than they would cost, on one worker (memory counters), two workers
(the shared SQLite hot store) and two replicas sharing a Redis, then spend the rest one
request at a time. The sum of the costs settled (the usage log's, exact decimals, and the
counter's own) never passes the budget; every refused request was refused before any call
upstream; and the budget ends nearly spent (the holds were settled or released).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from redis import Redis as SyncRedis
from tests.e2e.conftest import Plano, start_plano
from tests.e2e.test_state import get, stop, wait_for
from tests.store.test_redis_outage import OwnRedis

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e

CHAT = "/v1/chat/completions"
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
#: Far below what 200 requests cost (each ~$0.000011, holding up to ~$0.00003).
BUDGET = Decimal("0.0005")
NANO = Decimal(1_000_000_000)
N = 200


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(SimOptions(name="sim")) as s:
        yield s


def config(sim: SimServer, **extra: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        # 200 requests at once on a loaded 2-core box: a timeout is not what is tested here.
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "120s"}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "base_url": sim.url, "default": True}
        ],
        "budgets": [
            {
                "name": "overrun",
                "scope": "global",
                "period": "total",
                "usd": str(BUDGET),
                "default_max_tokens": 16,
            }
        ],
        **extra,
    }


def body(i: int) -> dict[str, Any]:
    b: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    if i % 2:
        b["max_tokens"] = 16  # the others get the budget's default_max_tokens
    if i % 4 >= 2:
        b["stream"] = True
        if i % 8 >= 4:
            b["stream_options"] = {"include_usage": True}
    return b


async def _burst(urls: list[str], n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=150) as c:
        start = asyncio.Event()

        async def one(i: int) -> int:
            await start.wait()
            r = await c.post(urls[i % len(urls)] + CHAT, json=body(i))
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "budget_exceeded", r.text
            return r.status_code

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def burst(urls: list[str], n: int = N) -> list[int]:
    return asyncio.run(_burst(urls, n))


def spend_the_rest(urls: list[str]) -> int:
    """One request at a time until the budget refuses; the number answered."""
    for i in range(1000):
        r = httpx.post(urls[i % len(urls)] + CHAT, json=body(1), timeout=60)
        if r.status_code == 429:
            return i
        assert r.status_code == 200, r.text
    raise AssertionError("the budget never refused")


def spent(urls: list[str], requests: int) -> Decimal:
    """The cost the usage logs settled, once they hold ``requests`` records."""

    def totals() -> list[dict[str, Any]]:
        return [get(u, "/plano/v1/usage?limit=1")["totals"] for u in urls]

    wait_for(f"{requests} usage records", lambda: sum(t["requests"] for t in totals()) == requests)
    return sum((Decimal(t["cost_usd"] or 0) for t in totals()), Decimal(0))


def check_no_overrun(sim: SimServer, urls: list[str], counter: Any) -> None:
    before = len(sim.requests)
    statuses = burst(urls)
    ok, refused = statuses.count(200), statuses.count(429)
    assert ok + refused == N, statuses
    assert 0 < ok < N and refused > 0
    assert len(sim.requests) - before == ok  # refused before any upstream call
    cost = spent(urls, N)
    assert 0 < cost <= BUDGET
    # The rest of the budget, one request at a time: the holds were settled or released.
    more = spend_the_rest(urls)
    total = spent(urls, N + more + 1)
    assert len(sim.requests) - before == ok + more
    assert total <= BUDGET
    used, held = counter()
    assert held == 0 and Decimal(int(used)) / NANO <= BUDGET
    assert Decimal(int(used)) / NANO >= total  # each cost counted, rounded up to a nano-dollar
    print(f"burst: {ok} answered, {refused} refused; then {more} more; settled ${total}")
    # Nearly spent: what is left is less than one request's worst case (~$0.00003).
    assert BUDGET - total < Decimal("0.00004"), (ok, more, total)


def test_no_overrun_on_one_worker_with_memory_counters(sim: SimServer, tmp_path: Path) -> None:
    p = start_plano(config(sim), tmp_path)
    try:
        assert "hot state (counters, key-value, topics): memory" in p.output()

        def counter() -> tuple[float, float]:
            st = get(p.url, "/plano/v1/budgets")
            row = st["budgets"][0]
            return float(row["used_nano_usd"]), float(row["held_nano_usd"])

        check_no_overrun(sim, [p.url], counter)
    finally:
        stop(p)


def test_no_overrun_on_two_workers_sharing_sqlite(sim: SimServer, tmp_path: Path) -> None:
    p = start_plano(config(sim, gateway={"workers": 2, "drain_timeout": "10s"}), tmp_path)
    try:
        assert "hot.db (shared by 2 workers" in p.output()

        def counter() -> tuple[float, float]:
            with sqlite3.connect(tmp_path / ".plano" / "hot.db") as db:
                key = "plano:b:overrun:total:*:usd"
                used = db.execute("SELECT used FROM hot_counters WHERE key = ?", (key,)).fetchone()
                held = db.execute(
                    "SELECT TOTAL(amount) FROM hot_holds WHERE key = ?", (key,)
                ).fetchone()
            return float(used[0]), float(held[0])

        check_no_overrun(sim, [p.url], counter)
    finally:
        stop(p)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    (tmp_path / "redis").mkdir()
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@needs_redis
def test_no_overrun_on_two_replicas_sharing_redis(
    sim: SimServer, tmp_path: Path, own_redis: OwnRedis
) -> None:
    started: list[Plano] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            # A shorter drain: a close step that hangs is cut (and named in the log) well
            # before this test's stop time-out.
            cfg = config(sim, state={"redis": own_redis.url}, gateway={"drain_timeout": "10s"})
            started.append(start_plano(cfg, tmp_path / name))
        r = SyncRedis.from_url(own_redis.url)

        def counter() -> tuple[float, float]:
            h = r.hgetall("plano:c:b:overrun:total:*:usd")
            return float(h.get(b"u", 0)), float(h.get(b"h", 0))

        check_no_overrun(sim, [p.url for p in started], counter)
    finally:
        for p in started:
            stop(p)


# ---------------------------------------------------------------- the SDKs' errors


@pytest.fixture(scope="module")
def limited(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plano]:
    cfg = config(
        sim,
        budgets=[
            {
                "name": "tiny",
                "scope": "session",
                "match": ["budget-1", "budget-2"],
                "usd": "0.00005",
                "period": "day",
                "soft": 0.5,
            }
        ],
        rate_limits=[
            {
                "name": "per-session",
                "scope": "session",
                "match": "rate-1",
                "requests": 3,
                "per": "hour",
            }
        ],
        ratelimits=[
            {
                "model": "openai/gpt-4o-mini",
                "selector": {"key": "x-user", "value": "*"},
                "limit": {"tokens": 40, "unit": "hour"},
            },
            {
                "model": "gpt-4o-mini",
                "selector": {"key": "x-team", "value": "red"},
                "limit": {"tokens": 30, "unit": "minute"},
            },
        ],
    )
    p = start_plano(cfg, tmp_path_factory.mktemp("limited"))
    yield p
    stop(p)


def _openai(p: Plano, session: str) -> openai.OpenAI:
    headers = {"x-plano-session-id": session}
    return openai.OpenAI(
        base_url=p.url + "/v1", api_key="k", max_retries=0, default_headers=headers
    )


USER = [{"role": "user", "content": "hi"}]


def test_openai_sdk_gets_rate_limit_error_for_a_spent_budget(limited: Plano) -> None:
    client = _openai(limited, "budget-1")
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER, max_tokens=16
    )
    assert first.headers["x-plano-budget-warning"].startswith("tiny ")
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=16)
    err = caught.value
    assert "Budget 'tiny' (session 'budget-1') cannot cover this request" in err.message
    assert err.code == "budget_exceeded" and err.type == "insufficient_quota"
    assert int(err.response.headers["retry-after"]) > 0
    assert err.response.headers["x-should-retry"] == "false"


def test_anthropic_sdk_gets_rate_limit_error_for_a_spent_budget(limited: Plano) -> None:
    headers = {"x-plano-session-id": "budget-2"}
    client = anthropic.Anthropic(
        base_url=limited.url, api_key="k", max_retries=0, default_headers=headers
    )
    with client, pytest.raises(anthropic.RateLimitError) as caught:
        for _ in range(4):
            client.messages.create(model="gpt-4o-mini", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert "Budget 'tiny' (session 'budget-2')" in str(caught.value)
    assert caught.value.response.headers["retry-after"]


def test_openai_sdk_gets_rate_limit_error_with_decreasing_headers(limited: Plano) -> None:
    client = _openai(limited, "rate-1")
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER, max_tokens=1
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=1)
    err = caught.value
    assert "Rate limit 'per-session' (session 'rate-1') reached: 3 requests per hour" in err.message
    assert err.code == "rate_limit_exceeded"
    h = err.response.headers
    assert int(h["retry-after"]) > 0 and h["x-ratelimit-remaining-requests"] == "0"


def _chat(p: Plano, session: str, **headers: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": USER, "max_tokens": 1}
    return httpx.post(
        p.url + CHAT, json=body, headers={"x-plano-session-id": session, **headers}, timeout=10
    )


def test_plano_ratelimits_apply_only_with_the_selector_header(limited: Plano) -> None:
    # Without x-arch-ratelimit-selector, the x-user header alone does nothing.
    for i in range(6):
        r = _chat(limited, f"plano-none-{i}", **{"x-user": "alice"})
        assert r.status_code == 200 and "x-ratelimit-limit-tokens" not in r.headers
    # With it: 40 input tokens an hour for each x-user value ('*'), each prompt ~9 tokens.
    seen = []
    for i in range(6):
        r = _chat(
            limited, f"plano-a-{i}", **{"x-arch-ratelimit-selector": "x-user", "x-user": "alice"}
        )
        seen.append(r.status_code)
        if r.status_code == 200:
            assert r.headers["x-ratelimit-limit-tokens"] == "40"
    assert seen[:2] == [200, 200] and seen[-1] == 429
    refused = r.json()["error"]
    assert refused["type"] == "rate_limit_error" and "input tokens per hour" in refused["message"]
    assert int(r.headers["retry-after"]) > 0
    # Another value has its own bucket.
    r = _chat(limited, "plano-b", **{"x-arch-ratelimit-selector": "x-user", "x-user": "bob"})
    assert r.status_code == 200


def test_plano_ratelimits_literal_value(limited: Plano) -> None:
    sel = {"x-arch-ratelimit-selector": "X-Team"}
    blue = [_chat(limited, f"blue-{i}", **sel, **{"x-team": "blue"}) for i in range(5)]
    assert all(r.status_code == 200 for r in blue)  # no entry for blue
    red = [_chat(limited, f"red-{i}", **sel, **{"x-team": "red"}).status_code for i in range(6)]
    assert red[0] == 200 and red[-1] == 429
