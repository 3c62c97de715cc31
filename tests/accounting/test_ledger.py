"""Ledger: records queued for the usage log (found before they are written), the usage report
read back from the log (totals, by model, groups, pages), access-log batches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from plano.accounting.ledger import Ledger, UsageRecord
from plano.core.model import Usage
from plano.store.protocols import UsageQuery
from plano.store.usage import SQLiteUsageLog


@pytest.fixture
async def led() -> AsyncIterator[Ledger]:
    ledger = Ledger(SQLiteUsageLog.in_memory())
    await ledger.start()
    yield ledger
    await ledger.close()
    await ledger.usage.close()


def _ledger(**kw: Any) -> Ledger:
    return Ledger(SQLiteUsageLog.in_memory(), **kw)


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


async def test_report_totals_by_model_and_groups_from_the_usage_log(led: Ledger) -> None:
    led.add(_rec("a", usage=Usage(100, 10, cache_read_tokens=40, reasoning_tokens=3), cost="0.5"))
    led.add(_rec("b", usage=Usage(50, 5, cache_write_tokens=7), cost="0.25"))
    led.add(_rec("c", provider="anthropic", model="claude", usage=Usage(1, 1)))  # unpriced
    led.add(_rec("d", status=502, error="upstream_connect"))  # nothing reached a model

    report = await led.report(UsageQuery(limit=2), ["status_class"])
    t = report["totals"]
    assert (t["requests"], t["errors"], t["unpriced_requests"]) == (4, 1, 1)
    assert (t["input_tokens"], t["output_tokens"]) == (151, 16)
    assert (t["cache_read_tokens"], t["cache_write_tokens"], t["reasoning_tokens"]) == (40, 7, 3)
    assert Decimal(t["cost_usd"]) == Decimal("0.75")
    by = {(r["provider"], r["model"]): r for r in report["by_model"]}
    gpt = by[("openai", "gpt-4o")]
    assert (gpt["requests"], gpt["errors"], gpt["input_tokens"]) == (3, 1, 150)
    assert Decimal(gpt["cost_usd"]) == Decimal("0.75")
    assert by[("anthropic", "claude")]["unpriced_requests"] == 1
    assert {g["status_class"]: g["requests"] for g in report["groups"]} == {"2xx": 3, "5xx": 1}
    assert len(report["recent"]) == 2 and report["next"] is not None
    assert report["queued"] == 0  # the report wrote this process's queue first
    orjson.dumps(report)  # JSON-ready as it is


async def test_a_queued_record_is_found_before_it_is_written(led: Ledger) -> None:
    led.add(_rec("r1", status=500))
    assert led.writer.queued == 1
    found = await led.find("r1")
    assert found is not None and found["status"] == 500
    assert await led.usage.find("r1") is None  # not written yet
    assert await led.writer.flush(1.0)
    assert (await led.usage.find("r1") or {})["status"] == 500
    assert (await led.find("r1") or {})["request_id"] == "r1"
    assert await led.find("nope") is None


async def test_a_record_added_twice_is_counted_once(led: Ledger) -> None:
    led.add(_rec("same", usage=Usage(1, 1), cost="0.1"))
    await led.writer.flush(1.0)
    led.add(_rec("same", usage=Usage(1, 1), cost="0.1"))
    report = await led.report(UsageQuery())
    assert report["totals"]["requests"] == 1 and report["totals"]["cost_usd"] == "0.1"


async def test_the_ledger_runs_its_own_writer_when_given_none() -> None:
    ledger = _ledger()
    await ledger.start()
    ledger.add(_rec("a"))
    for _ in range(200):
        if await ledger.usage.find("a") is not None:
            break
        await asyncio.sleep(0.01)
    ledger.add(_rec("b"))
    await ledger.close()  # writes what is left
    assert await ledger.usage.find("b") is not None
    await ledger.usage.close()


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
    assert "session" not in empty  # access-log lines keep their keys
    assert _rec("z", session="s1").to_json()["session"] == "s1"


async def test_flush_logs_one_json_record_per_line(caplog: pytest.LogCaptureFixture) -> None:
    led = _ledger()
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


async def test_nothing_is_queued_when_the_access_log_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    led = _ledger()
    with caplog.at_level(logging.WARNING, logger="plano.access"):
        led.add(_rec("a"))
        led.flush()
    assert led._pending == []
    assert caplog.records == []


async def test_background_task_flushes_and_close_flushes_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    led = _ledger(flush_interval=0.01)
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


async def test_a_sink_gets_each_batch_as_json_lines(caplog: pytest.LogCaptureFixture) -> None:
    batches: list[list[bytes]] = []
    with caplog.at_level(logging.INFO, logger="plano.access"):
        led = _ledger(sink=batches.append)
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
