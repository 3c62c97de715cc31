"""What one finished request adds to the gateway's metrics, with fixed labels only, and the
summary's one-minute window (rates, percentiles, exact cost)."""

from __future__ import annotations

from decimal import Decimal

from plano.core.model import ChatRequest, Message, TextPart, Usage
from plano.errors import RateLimited
from plano.observe.metrics import merge
from plano.observe.metrics_gateway import (
    ATTEMPTS,
    COST,
    DECISIONS,
    FALLBACKS,
    REQUESTS,
    TOKENS,
    TTFT,
    GatewayMetrics,
    ModelLabels,
)
from plano.observe.metrics_window import Window, summarise
from plano.pipeline.context import Attempt, Decision, RequestContext
from plano.providers.deployment import Deployment
from plano.providers.table import spec_for

NOW = 1_764_640_000.0
LABELS = ModelLabels(
    [("openai/gpt-4o", "openai", False), ("fast", "groq", False), ("openai/*", "openai", True)]
)


def dep(provider: str, model: str, group: str = "") -> Deployment:
    spec = spec_for(provider)
    assert spec is not None
    return Deployment(f"{provider}/{model}", provider, model, spec, "http://x", group=group)


def ctx(**kw: object) -> RequestContext:
    c = RequestContext("r1", "openai_chat", {}, listener="llm")
    c.request = ChatRequest(
        model="gpt-4o", messages=[Message("user", [TextPart("hi")])], stream=True
    )
    c.started_ns = 0
    c.end_ns = 2_000_000_000  # 2 s
    c.first_token_ns = 300_000_000
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def test_model_labels_come_from_the_config_never_from_the_client() -> None:
    assert LABELS("openai/gpt-4o") == ("openai", "openai/gpt-4o")
    assert LABELS("fast") == ("groq", "fast")
    # A model the client named through the openai/* wildcard: the wildcard's key.
    assert LABELS("openai/my-secret-finetune-123") == ("openai", "openai/*")
    assert LABELS("evil/../../x") == ("other", "other")


def test_a_request_with_one_fallback_counts_everywhere() -> None:
    m = GatewayMetrics()
    wild = dep("openai", "client-chose-this", group="openai/*")
    c = ctx(
        deployment=wild,
        attempts=[Attempt("fast", 429, "rate_limited", 50.0), Attempt(wild.key, 200, None, 900.0)],
        usage=Usage(100, 20, cache_read_tokens=30),
        cost=Decimal("0.000123456789"),
        decisions=[Decision("auth", "allow"), Decision("budget", "limit", rule="daily")],
    )
    m.record(c, LABELS, now=NOW)
    values = merge(m.registry, [], own=m.snapshot(now=NOW))
    assert values[REQUESTS] == {("llm", "openai_chat", "2xx", ""): 1}
    assert values[ATTEMPTS] == {
        ("groq", "fast", "rate_limited"): 1,
        ("openai", "openai/*", "ok"): 1,
    }
    assert values[FALLBACKS] == {("groq", "fast", "rate_limited"): 1}
    assert values[TOKENS] == {
        ("openai", "openai/*", "input"): 100,
        ("openai", "openai/*", "output"): 20,
        ("openai", "openai/*", "cache_read"): 30,
    }
    assert values[COST] == {("openai", "openai/*"): Decimal("0.000123456789")}
    assert values[DECISIONS] == {("auth", "allow"): 1, ("budget", "limit"): 1}
    assert values[TTFT][("openai", "openai/*")][-1] == 0.3
    # No label anywhere carries the client's model name.
    assert "client-chose-this" not in repr(values)


def test_a_refused_request_counts_without_a_model() -> None:
    m = GatewayMetrics()
    m.record(ctx(status=429, error=RateLimited("slow down"), first_token_ns=0), LABELS, now=NOW)
    values = merge(m.registry, [], own=m.snapshot(now=NOW))
    assert values[REQUESTS] == {("llm", "openai_chat", "4xx", "rate_limited"): 1}
    assert values[ATTEMPTS] == {}
    out = summarise(m.window.rows, NOW, 5)
    assert out["models"][0]["model"] == "(none)" and out["totals"]["error_rate"] == 1.0


def test_the_summary_covers_the_last_n_minutes_with_percentiles_and_exact_cost() -> None:
    w = Window()
    for i in range(100):  # 100 requests in the current minute: 10 ms .. 1 s
        w.add(NOW, "openai", "openai/gpt-4o", error=i < 5, fallback=i < 2,
              seconds=(i + 1) / 100, ttft=0.05, tokens=(10, 2, 0, 0, 0),
              cost=Decimal("0.0000001"))  # fmt: skip
    w.add(NOW - 600, "groq", "fast", error=False, fallback=False, seconds=0.2, ttft=None,
          tokens=None, cost=None)  # fmt: skip
    w.add(
        NOW - 3 * 3600,
        "groq",
        "fast",
        error=False,
        fallback=False,
        seconds=0.2,
        ttft=None,
        tokens=None,
        cost=None,
    )  # fmt: skip  (pruned: older than an hour)
    assert all(k[0] >= int(NOW // 60) - 60 for k in w.rows)
    out = summarise(w.rows, NOW, 15)
    t = out["totals"]
    assert t["requests"] == 101 and t["errors"] == 5 and t["fallbacks"] == 2
    assert t["cost_usd"] == "0.00001"
    assert t["input_tokens"] == 1000
    gpt = out["models"][0]
    assert gpt["model"] == "openai/gpt-4o" and gpt["requests"] == 100
    assert 400 <= gpt["latency_ms"]["p50"] <= 600
    assert 900 <= gpt["latency_ms"]["p99"] <= 1000
    assert gpt["ttft_ms"]["p50"] <= 50
    assert out["models"][1]["ttft_ms"] is None
    assert [s["requests"] for s in out["series"]] == [1, 100]
    assert out["series"][1]["by_model"]["openai/gpt-4o"]["cost_usd"] == "0.00001"
    assert summarise(w.rows, NOW, 5)["totals"]["requests"] == 100  # the 10-minute-old one left


def test_window_dump_and_load_round_trip_exactly() -> None:
    w = Window()
    w.add(NOW, "p", "m", error=False, fallback=False, seconds=0.1, ttft=None, tokens=None,
          cost=Decimal("0.123456789012345"))  # fmt: skip
    back = Window.load(w.dump())
    assert back == w.rows
