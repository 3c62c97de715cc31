"""Workers sharing metrics through snapshot files: one scrape sees every worker, a worker
that dies keeps its counts (no reset, no double count), its gauges age out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from plano.observe.metrics_gateway import IN_FLIGHT, REQUESTS, GatewayMetrics
from plano.observe.metrics_http import summary
from plano.observe.metrics_share import MetricsShare

KEY = ("llm", "openai_chat", "2xx", "")


def worker(tmp: Path, requests: int, in_flight: int) -> MetricsShare:
    m = GatewayMetrics()
    m.requests.inc(KEY, requests)
    m.in_flight.set(("llm",), in_flight)
    for _ in range(requests):
        m.window.add(time.time(), "openai", "openai/gpt-4o", error=False, fallback=False,
                     seconds=0.1, ttft=None, tokens=None, cost=None)  # fmt: skip
    share = MetricsShare(m, None)
    share.share_with(tmp, 0.05)
    return share


async def test_one_scrape_sees_every_worker_and_a_restart_neither_resets_nor_doubles(
    tmp_path: Path,
) -> None:
    a, b = worker(tmp_path, 3, 1), worker(tmp_path, 4, 2)
    await a.publish()
    await b.publish()
    merged = await a.merged()
    assert merged.processes == 2
    assert merged.values[REQUESTS] == {KEY: 7}
    assert merged.values[IN_FLIGHT] == {("llm",): 3}
    # b dies (its file stays); its replacement counts from zero in a file of its own.
    b2 = worker(tmp_path, 5, 0)
    await b2.publish()
    assert len(os.listdir(tmp_path)) == 3
    assert (await a.merged()).values[REQUESTS] == {KEY: 12}
    # Three intervals later, b's in-flight requests are not in flight any more (a's are its
    # own, live).
    later = time.time() + 0.2
    assert (await a.merged(now=later)).values[IN_FLIGHT] == {("llm",): 1}
    out = await summary(b2, 5)
    assert out["totals"]["requests"] == 12 and out["processes"] == 3
    assert out["stale_s"] == 0.05


async def test_close_publishes_what_was_counted_last_and_a_lone_worker_writes_nothing(
    tmp_path: Path,
) -> None:
    a, b = worker(tmp_path, 1, 0), worker(tmp_path, 1, 0)
    await a.start()
    a.metrics.requests.inc(KEY, 10)
    await a.close()  # the final snapshot, before any timer fired
    assert (await b.merged()).values[REQUESTS] == {KEY: 12}
    alone = MetricsShare(GatewayMetrics(), None)
    await alone.start()
    await alone.publish()
    await alone.close()
    assert (await alone.merged()).processes == 1 and alone.stale_s == 0.0


async def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    a = worker(tmp_path, 2, 0)
    (tmp_path / "garbage.json").write_bytes(b"{not json")
    assert (await a.merged()).values[REQUESTS] == {KEY: 2}
