"""Agentic signals through `plano up` and the openai SDK: scripted conversations (a
frustrated user, a tool loop, a clean chat) are analysed off the request's path and show up
in `GET /plano/v1/signals/summary`, per request, and as Prometheus counters;
`overrides.disable_signals` turns it all off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import SIM_KEY, Plano, free_port, start_plano

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e

ADMIN = "admin-secret-for-signals-0123456789"
AUTH = {"authorization": f"Bearer {ADMIN}"}

FRUSTRATED: list[dict[str, Any]] = [
    {"role": "user", "content": "Where is my refund?"},
    {"role": "assistant", "content": "Could you share your order number?"},
    {"role": "user", "content": "I ALREADY TOLD YOU THE ORDER NUMBER"},
    {"role": "assistant", "content": "Could you share your order number?"},
    {"role": "user", "content": "This is useless. Get me a real person!!"},
]


def _loop() -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "What's my balance?"}]
    for i in range(3):
        call = {"id": f"c{i}", "type": "function"}
        call["function"] = {"name": "get_balance", "arguments": '{"account": 7}'}
        msgs.append({"role": "assistant", "content": None, "tool_calls": [call]})
        msgs.append(
            {"role": "tool", "tool_call_id": f"c{i}", "content": "HTTP 503 Service Unavailable"}
        )
    return msgs


TOOLS = [
    {"type": "function", "function": {"name": "get_balance", "parameters": {"type": "object"}}}
]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as s:
        yield s


def config(sim: SimServer, metrics_port: int, **overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": sim.url,
                "default": True,
            }
        ],
        "gateway": {"admin_key": ADMIN},
        "tracing": {"random_sampling": 100, "otlp_export": False},
        "metrics": {"port": metrics_port, "publish_interval": "0.2s"},
    }
    if overrides:
        c["overrides"] = overrides
    return c


@pytest.fixture(scope="module")
def served(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plano, str]]:
    port = free_port()
    p = start_plano(config(sim, port), tmp_path_factory.mktemp("signals"))
    yield p, f"http://127.0.0.1:{port}"
    assert p.stop() == 0, p.output()


def client(p: Plano) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.url + "/v1", api_key=SIM_KEY, max_retries=0)


def summary(p: Plano, want: int, timeout: float = 60) -> dict[str, Any]:
    """The summary once ``want`` requests were analysed (the analysis runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(p.url + "/plano/v1/signals/summary", headers=AUTH, timeout=10)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        if data["totals"]["analyzed"] >= want or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_scripted_conversations_reach_the_summary_and_metrics(served: tuple[Plano, str]) -> None:
    p, metrics_url = served
    oai = client(p)
    oai.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=FRUSTRATED,
        extra_headers={"x-request-id": "angry"},  # type: ignore[arg-type]
    )
    stream = oai.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=_loop(),  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
        extra_headers={"x-request-id": "loop"},
    )
    assert list(stream)
    oai.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the capital of Portugal?"}],
        extra_headers={"x-request-id": "calm"},
    )
    s = summary(p, 3)
    assert s["enabled"] is True and s["totals"]["analyzed"] == 3, s["totals"]
    assert s["quality"]["severe"] == 1 and s["flagged"] == 2
    cats = s["categories"]
    assert cats["interaction.disengagement"]["types"]["escalation"] == 1
    assert cats["interaction.misalignment"]["types"]["correction"] == 1  # "I ALREADY TOLD YOU"
    assert cats["execution.loops"]["types"]["retry"] == 1
    assert cats["environment.exhaustion"]["types"]["api_error"] == 3
    assert [f["client_request_id"] for f in s["recent_flagged"]] == ["loop", "angry"]
    assert s["recent_flagged"][1]["model"] == "openai/gpt-4o-mini"

    one = httpx.get(p.url + "/plano/v1/signals/requests/angry", headers=AUTH, timeout=10).json()
    attrs = one["attributes"]
    assert attrs["signals.quality"] == "severe" and attrs["signals.turn_count"] == 3
    assert attrs["signals.interaction.disengagement.count"] >= 2
    names = {e["name"] for e in one["events"]}
    assert "signal.interaction.disengagement.escalation" in names
    assert "signal.interaction.stagnation.repetition" in names  # the agent asked the same again
    calm = httpx.get(p.url + "/plano/v1/signals/requests/calm", headers=AUTH, timeout=10).json()
    assert calm["events"] == [] and calm["attributes"]["signals.quality"] == "neutral"

    status = httpx.get(p.url + "/plano/v1/status", headers=AUTH, timeout=10).json()
    assert "signals" in [f for v in status["listeners"] for f in v["filters"]]

    # On the trace: the answering LLM span carries Plano's keys, one event per signal, the flag.
    trace = httpx.get(
        f"{p.url}/plano/v1/traces/{s['recent_flagged'][1]['trace_id']}", headers=AUTH, timeout=10
    )
    assert trace.status_code == 200, trace.text
    spans = [sp for sp in _spans(trace.json()) if "signals.quality" in sp["attributes"]]
    assert len(spans) == 1, trace.json()
    assert spans[0]["attributes"]["signals.quality"] == "severe"
    assert spans[0]["name"].endswith("\U0001f6a9")
    assert "signal.interaction.disengagement.escalation" in {e["name"] for e in spans[0]["events"]}

    text = httpx.get(metrics_url + "/metrics", timeout=10).text
    assert 'plano_signal_analyses_total{quality="severe"} 1' in text
    assert 'plano_signals_total{layer="execution",category="loops",type="retry"} 1' in text
    assert "plano_signal_flagged_total 2" in text


def _spans(trace: Any) -> list[dict[str, Any]]:
    """Every span dict in a ``/plano/v1/traces/{id}`` answer, wherever it nests them."""
    if isinstance(trace, dict):
        if "span_id" in trace and "attributes" in trace:
            return [trace]
        return [sp for v in trace.values() for sp in _spans(v)]
    if isinstance(trace, list):
        return [sp for v in trace for sp in _spans(v)]
    return []


def test_anthropic_sdk_streams_are_analysed_too(served: tuple[Plano, str]) -> None:
    p, _ = served
    before = summary(p, 0)["totals"]["analyzed"]
    claude = anthropic.Anthropic(base_url=p.url, api_key=SIM_KEY, max_retries=0)
    with claude.messages.stream(
        model="openai/gpt-4o-mini",
        max_tokens=64,
        messages=[
            {"role": "user", "content": "Cancel my subscription"},
            {"role": "assistant", "content": "Which subscription?"},
            {"role": "user", "content": "forget it, I give up"},
        ],
        extra_headers={"x-request-id": "claude-quit"},
    ) as stream:
        assert stream.get_final_text()
    s = summary(p, before + 1)
    one = httpx.get(p.url + "/plano/v1/signals/requests/claude-quit", headers=AUTH, timeout=10)
    assert one.status_code == 200, s["totals"]
    assert one.json()["attributes"]["signals.quality"] == "severe"
    assert [e["name"] for e in one.json()["events"]] == ["signal.interaction.disengagement.quit"]


def test_the_summary_needs_the_admin_key(served: tuple[Plano, str]) -> None:
    p, _ = served
    r = httpx.get(p.url + "/plano/v1/signals/summary", timeout=10)
    assert r.status_code == 401
    r = httpx.get(p.url + "/plano/v1/signals/summary?recent=x", headers=AUTH, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "recent"
    r = httpx.get(p.url + "/plano/v1/signals/requests/nope", headers=AUTH, timeout=10)
    assert r.status_code == 404


def test_disable_signals(sim: SimServer, tmp_path: Path) -> None:
    p = start_plano(config(sim, free_port(), disable_signals=True), tmp_path)
    try:
        client(p).chat.completions.create(model="openai/gpt-4o-mini", messages=FRUSTRATED)  # type: ignore[arg-type]
        status = httpx.get(p.url + "/plano/v1/status", headers=AUTH, timeout=10).json()
        filters = [f for v in status["listeners"] for f in v["filters"]]
        assert "signals" not in filters, json.dumps(status["listeners"])
        s = httpx.get(p.url + "/plano/v1/signals/summary", headers=AUTH, timeout=10).json()
        assert s["enabled"] is False and s["totals"]["analyzed"] == 0 and s["totals"]["queued"] == 0
    finally:
        assert p.stop() == 0, p.output()
