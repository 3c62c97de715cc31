"""Fault injection: `plano up` in front of simulated providers that return 429 (Retry-After),
5xx, hang, cut a stream in the middle or answer slowly; what the official SDKs see."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import Plano, start_plano

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e

USER = [{"role": "user", "content": "Hello there"}]
Sims = dict[str, SimServer]


@pytest.fixture(scope="module")
def fsims() -> Iterator[Sims]:
    with (
        SimServer.in_thread(SimOptions(name="good")) as good,
        SimServer.in_thread(SimOptions(name="bad")) as bad,
        SimServer.in_thread(SimOptions(name="slow", latency_ms=200)) as slow,
        SimServer.in_thread(SimOptions(name="cut", fault="cut")) as cut,
    ):
        yield {"good": good, "bad": bad, "slow": slow, "cut": cut}


@pytest.fixture
def sims(fsims: Sims) -> Sims:
    for sim in fsims.values():
        sim.reset()
    fsims["bad"].set_options(SimOptions(name="bad"))
    return fsims


def config(sims: Sims, **extra: Any) -> dict[str, Any]:
    def entry(model: str, name: str, sim: str) -> dict[str, Any]:
        return {"model": model, "name": name, "access_key": "k", "base_url": sims[sim].url}

    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "30s"}],
        "model_providers": [
            entry("openai/gpt-4o-mini", "primary", "good"),
            entry("openai/gpt-4o-mini", "secondary", "bad"),
            entry("openai/gpt-4o", "pricey", "good"),
            entry("groq/llama-3.3-70b-versatile", "quick", "good"),
            entry("groq/llama-3.3-70b-versatile", "sluggish", "slow"),
            entry("deepseek/deepseek-chat", "cutter", "cut"),
        ],
        "model_pools": {
            # round robin starting with the failing one: every other request would hit it
            "chat": {"strategy": "round_robin", "deployments": ["secondary", "primary"]},
            "cheap": {"strategy": "cheapest", "deployments": ["pricey", "primary"]},
            "fastest": {"strategy": "lowest_latency", "deployments": ["sluggish", "quick"]},
            "cut-then-good": {"strategy": "round_robin", "deployments": ["cutter", "primary"]},
        },
        "fallback": {
            "attempt_timeout": "1s",
            "first_token_timeout": "1s",
            "stream_idle_timeout": "2s",
            "backoff": {"initial": "10ms", "max": "50ms"},
            "circuit_breaker": {"consecutive_failures": 3, "cooldown": "30s"},
            **extra.pop("fallback", {}),
        },
        **extra,
    }


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Any]:
    started: list[Plano] = []

    def run(cfg: dict[str, Any]) -> Plano:
        p = start_plano(cfg, tmp_path / str(len(started)))
        started.append(p)
        return p

    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    yield run
    for p in started:
        assert p.stop() == 0, p.output()


def oai(p: Plano) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.url + "/v1", api_key="client-key", max_retries=0)


def ask(client: openai.OpenAI, model: str, stream: bool) -> tuple[str, dict[str, str]]:
    """The answer text and the response headers."""
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=USER,
        stream=stream,  # type: ignore[arg-type]
    )
    headers = dict(raw.headers)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)  # type: ignore[union-attr]
    else:
        text = raw.parse().choices[0].message.content or ""  # type: ignore[union-attr]
    return text, headers


FAULTS: list[dict[str, Any]] = [
    {"fault": "429", "retry_after": 30},
    {"fault": "500"},
    {"fault": "503"},
    {"fault": "hang"},
    {"fault": "slow", "slow_ms": 3000},
    {"fault": "garbage"},
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f["fault"] for f in FAULTS])
def test_pool_keeps_serving_while_one_deployment_fails(
    sims: Sims, up: Any, fault: dict[str, Any], stream: bool
) -> None:
    sims["bad"].set_options(SimOptions(name="bad", **fault))
    client = oai(up(config(sims)))
    durations = []
    for _ in range(8):
        started = time.monotonic()
        text, headers = ask(client, "chat", stream)
        durations.append(time.monotonic() - started)
        assert len(text) > 10
        assert headers["x-plano-deployment"] == "primary"
    # Skipped once it failed: a Retry-After cool-down or an open breaker, not a retry per request.
    assert sims["bad"].stats.total <= 3
    assert max(durations[-3:]) < 0.5, durations


def test_stream_that_stalls_after_its_headers_fails_over(sims: Sims, up: Any) -> None:
    # 200 and the role chunk at once, then ~2 s to the first token: past first_token_timeout.
    sims["bad"].set_options(SimOptions(name="bad", tokens_per_second=0.5, output_tokens=4))
    client = oai(up(config(sims)))
    text, headers = ask(client, "chat", stream=True)
    assert len(text) > 10
    assert headers["x-plano-deployment"] == "primary"
    assert headers["x-plano-attempts"] == "2"


def test_stream_cut_mid_answer_is_an_error_not_a_truncated_success(sims: Sims, up: Any) -> None:
    client = oai(up(config(sims)))
    received = []
    with pytest.raises(openai.APIError) as exc:
        for chunk in client.chat.completions.create(model="cutter", messages=USER, stream=True):
            received.append(chunk)
    assert received, "the cut came after the first token: the client saw part of the answer"
    assert "closed the connection" in str(exc.value) or "before it was complete" in str(exc.value)


def test_non_stream_cut_fails_over_and_alone_is_a_502(sims: Sims, up: Any) -> None:
    client = oai(up(config(sims)))
    for _ in range(2):  # round robin: the cutter first, then the good one
        text, headers = ask(client, "cut-then-good", stream=False)
        assert len(text) > 10 and headers["x-plano-deployment"] == "primary"
    with pytest.raises(openai.APIStatusError) as exc:
        ask(client, "cutter", stream=False)
    assert exc.value.status_code == 502
    assert "attempts:" in exc.value.message


def test_all_failing_reports_each_attempt(sims: Sims, up: Any) -> None:
    sims["bad"].set_options(SimOptions(name="bad", fault="500"))
    client = oai(up(config(sims, fallback={"models": {"secondary": ["cutter"]}})))
    with pytest.raises(openai.APIStatusError) as exc:
        ask(client, "secondary", stream=False)
    # The last attempt's error (which one is retried last depends on the jittered backoff).
    assert exc.value.status_code in (500, 502)
    assert "secondary: 500" in exc.value.message and "cutter: 502" in exc.value.message
    assert int(exc.value.response.headers["x-plano-attempts"]) >= 2


def test_cheapest_pool_prefers_the_cheaper_deployment(sims: Sims, up: Any) -> None:
    client = oai(up(config(sims)))
    answered = [ask(client, "cheap", stream=False)[1]["x-plano-deployment"] for _ in range(10)]
    assert answered == ["primary"] * 10  # gpt-4o-mini is ~16x cheaper than gpt-4o


def test_fastest_pool_prefers_the_faster_deployment(sims: Sims, up: Any) -> None:
    client = oai(up(config(sims)))
    answered = [ask(client, "fastest", stream=i % 2 == 0)[1] for i in range(20)]
    quick = sum(h["x-plano-deployment"] == "quick" for h in answered)
    assert quick >= 17, [h["x-plano-deployment"] for h in answered]


def test_added_latency_of_one_failover(sims: Sims, up: Any) -> None:
    sims["bad"].set_options(SimOptions(name="bad", fault="500"))
    cfg = config(
        sims,
        fallback={"models": {"secondary": ["primary"]}, "circuit_breaker": {"enabled": False}},
    )
    client = oai(up(cfg))
    for _ in range(5):  # warm the connection pools
        ask(client, "primary", stream=False)
        ask(client, "secondary", stream=False)
    direct, failover = [], []
    for _ in range(30):
        t = time.perf_counter()
        ask(client, "primary", stream=False)
        direct.append(time.perf_counter() - t)
        t = time.perf_counter()
        _, headers = ask(client, "secondary", stream=False)
        failover.append(time.perf_counter() - t)
        assert headers["x-plano-attempts"] == "2"
    added_ms = (statistics.median(failover) - statistics.median(direct)) * 1000
    print(f"\nadded latency of one failover (median of 30): {added_ms:.2f} ms")
    assert added_ms < 50


def test_routing_decision_without_calling_a_model(sims: Sims, up: Any) -> None:
    p = up(config(sims))
    r = httpx.post(
        f"{p.url}/routing/v1/chat/completions", json={"model": "cheap", "messages": USER}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["models"] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    assert body["deployments"] == ["primary", "pricey"] and body["route"] is None
    assert sims["good"].stats.total == 0
    status = httpx.get(f"{p.url}/plano/v1/routing").json()
    assert "deployments" in status and "counters" in status


def test_anthropic_sdk_through_a_failing_pool(sims: Sims, up: Any) -> None:
    sims["bad"].set_options(SimOptions(name="bad", fault="500"))
    p = up(config(sims))
    client = anthropic.Anthropic(base_url=p.url, api_key="client-key", max_retries=0)
    for _ in range(3):
        msg = client.messages.create(model="chat", max_tokens=64, messages=USER)  # type: ignore[arg-type]
        assert msg.content[0].text  # type: ignore[union-attr]
    stream = client.messages.stream(model="cutter", max_tokens=64, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(anthropic.APIError), stream as s:  # the error arrives mid-iteration
        for _ in s.text_stream:
            pass
