"""Ledger: running totals, per-model totals, the recent window, lookups, access-log batches."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import orjson
import pytest

from plano.accounting.ledger import Ledger, Totals, UsageRecord
from plano.core.model import Usage


def _rec(
    rid: str,
    *,
    provider: str = "openai",
    model: str = "gpt-4o",
    status: int = 200,
    usage: Usage | None = None,
    cost: str | None = None,
    **kw: Any,
) -> UsageRecord:
    return UsageRecord(
        request_id=rid,
        ts=1_700_000_000.12345,
        shape="openai_chat",
        model_requested=model,
        provider=provider,
        model=model,
        status=status,
        stream=False,
        usage=usage,
        cost=Decimal(cost) if cost is not None else None,
        total_ms=12.34567,
        overhead_ms=0.98765,
        ttft_ms=kw.pop("ttft_ms", None),
        attempts=1,
        **kw,
    )


def test_totals_and_by_model() -> None:
    led = Ledger()
    led.add(_rec("a", usage=Usage(100, 10, cache_read_tokens=40, reasoning_tokens=3), cost="0.5"))
    led.add(_rec("b", usage=Usage(50, 5, cache_write_tokens=7), cost="0.25"))
    led.add(_rec("c", provider="anthropic", model="claude", usage=Usage(1, 1)))  # unpriced
    led.add(_rec("d", status=502, error="upstream_connect"))  # nothing reached a model

    t = led.totals
    assert (t.requests, t.errors, t.unpriced) == (4, 1, 1)
    assert (t.input_tokens, t.output_tokens) == (151, 16)
    assert (t.cache_read_tokens, t.cache_write_tokens, t.reasoning_tokens) == (40, 7, 3)
    assert t.cost == Decimal("0.75")

    gpt = led.by_model[("openai", "gpt-4o")]
    assert (gpt.requests, gpt.errors, gpt.input_tokens, gpt.cost) == (3, 1, 150, Decimal("0.75"))
    claude = led.by_model[("anthropic", "claude")]
    assert (claude.requests, claude.unpriced, claude.cost) == (1, 1, Decimal(0))


def test_recent_window_is_bounded_and_find_returns_the_latest() -> None:
    led = Ledger(recent=3)
    for i in range(5):
        led.add(_rec(f"r{i}"))
    assert [r.request_id for r in led.recent] == ["r2", "r3", "r4"]
    assert led.find("r0") is None
    assert led.find("r3") is led.recent[1]
    led.add(_rec("r3", status=500))
    found = led.find("r3")
    assert found is not None and found.status == 500
    assert led.totals.requests == 6  # totals keep counting past the window


def test_snapshot() -> None:
    led = Ledger()
    for i in range(3):
        led.add(_rec(f"r{i}", usage=Usage(10, 1), cost="0.001"))
    snap = led.snapshot(last=2)
    assert snap["totals"]["requests"] == 3
    assert snap["totals"]["cost_usd"] == "0.003"
    assert snap["by_model"] == [
        {"provider": "openai", "model": "gpt-4o", **led.by_model[("openai", "gpt-4o")].to_json()}
    ]
    assert [r["request_id"] for r in snap["recent"]] == ["r1", "r2"]
    assert isinstance(snap["generated_at"], float)
    orjson.dumps(snap)  # JSON-ready as it is


def test_snapshot_last_zero_has_no_recent_records() -> None:
    led = Ledger()
    led.add(_rec("a"))
    assert led.snapshot(last=0)["recent"] == []


def test_record_to_json() -> None:
    r = _rec(
        "x",
        usage=Usage(10, 2, 3, 4, 1, estimated=True),
        cost="0.000123",
        ttft_ms=5.55555,
        principal="team-a",
    )
    j = r.to_json()
    assert j["ts"] == 1_700_000_000.123
    assert j["total_ms"] == 12.346
    assert j["overhead_ms"] == 0.988
    assert j["ttft_ms"] == 5.556
    assert j["input_tokens"] == 10 and j["output_tokens"] == 2
    assert (j["cache_read_tokens"], j["cache_write_tokens"], j["reasoning_tokens"]) == (3, 4, 1)
    assert j["usage_estimated"] is True
    assert j["cost_usd"] == "0.000123"
    assert j["principal"] == "team-a"
    empty = _rec("y").to_json()
    assert empty["input_tokens"] is None and empty["cost_usd"] is None and empty["ttft_ms"] is None


def test_totals_to_json_zero() -> None:
    assert Totals().to_json() == {
        "requests": 0,
        "errors": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": "0",
        "unpriced_requests": 0,
    }


def test_flush_logs_one_json_record_per_line(caplog: pytest.LogCaptureFixture) -> None:
    led = Ledger()
    with caplog.at_level(logging.INFO, logger="plano.access"):
        led.add(_rec("a", usage=Usage(1, 2)))
        led.add(_rec("b"))
        assert caplog.records == []  # nothing is written on the request path
        led.flush()
        led.flush()  # an empty batch writes nothing
    assert [r.name for r in caplog.records] == ["plano.access", "plano.access"]
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line for line in lines)
    parsed = [orjson.loads(line) for line in lines]
    assert [p["request_id"] for p in parsed] == ["a", "b"]
    assert parsed[0]["input_tokens"] == 1 and parsed[1]["input_tokens"] is None


def test_nothing_is_queued_when_the_access_log_is_off(caplog: pytest.LogCaptureFixture) -> None:
    led = Ledger()
    with caplog.at_level(logging.WARNING, logger="plano.access"):
        led.add(_rec("a"))
        led.flush()
    assert led._pending == []
    assert caplog.records == []


async def test_background_task_flushes_and_close_flushes_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    led = Ledger(flush_interval=0.01)
    with caplog.at_level(logging.INFO, logger="plano.access"):
        await led.start()
        await led.start()  # idempotent: one task
        led.add(_rec("a"))
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.01)
        assert caplog.records[0].getMessage().startswith('{"request_id":"a"')
        led.add(_rec("b"))
        task = led._task
        await led.close()
    assert task is not None and task.cancelled()
    assert led._task is None
    assert [orjson.loads(r.getMessage())["request_id"] for r in caplog.records] == ["a", "b"]


def test_a_sink_gets_each_batch_as_json_lines(caplog: pytest.LogCaptureFixture) -> None:
    batches: list[list[bytes]] = []
    with caplog.at_level(logging.INFO, logger="plano.access"):
        led = Ledger(sink=batches.append)
        led.add(_rec("a"))
        led.add(_rec("b"))
        led.flush()
        led.flush()
    assert len(batches) == 1
    assert [orjson.loads(line)["request_id"] for line in batches[0]] == ["a", "b"]
    assert caplog.records == []  # the sink replaces the logger


def test_stderr_sink_writes_one_line_per_record(capfd: pytest.CaptureFixture[str]) -> None:
    from plano.accounting.ledger import stderr_sink

    stderr_sink([b'{"a":1}', b'{"b":2}'])
    assert capfd.readouterr().err == '{"a":1}\n{"b":2}\n'


def test_models_past_the_cap_roll_up_under_their_provider() -> None:
    ledger = Ledger(max_models=3)
    for i in range(50):
        ledger.add(_rec(f"r{i}", model=f"client-model-{i}"))
    assert len(ledger.by_model) == 4  # three named, plus openai/* for the rest
    assert ledger.by_model[("openai", "*")].requests == 47
    assert ledger.totals.requests == 50
