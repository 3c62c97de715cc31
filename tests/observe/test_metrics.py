"""The metrics registry: series updates, the Prometheus text format, merging several
processes' snapshots, bucket quantiles."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from plano.observe.metrics import MetricsRegistry, merge, quantile, render


def test_families_are_registered_once_and_render_in_the_text_format() -> None:
    r = MetricsRegistry()
    c = r.counter("plano_x_total", "Xs.", ("kind",))
    assert r.counter("plano_x_total", "Xs.", ("kind",)) is c  # a second chain: the same family
    with pytest.raises(ValueError, match="registered differently"):
        r.counter("plano_x_total", "Xs.", ("other",))
    c.inc(("a",))
    c.inc(("a",), 2)
    c.inc(('we"ird\\',))
    h = r.histogram("plano_t_seconds", "Ts.", ("l",), buckets=(0.1, 1.0))
    h.observe(("x",), 0.05)
    h.observe(("x",), 0.5)
    h.observe(("x",), 5.0)
    text = render(r, merge(r, [], own=r.snapshot()))
    lines = text.splitlines()
    assert "# TYPE plano_x_total counter" in lines
    assert 'plano_x_total{kind="a"} 3' in lines
    assert 'plano_x_total{kind="we\\"ird\\\\"} 1' in lines
    assert 'plano_t_seconds_bucket{l="x",le="0.1"} 1' in lines
    assert 'plano_t_seconds_bucket{l="x",le="1.0"} 2' in lines
    assert 'plano_t_seconds_bucket{l="x",le="+Inf"} 3' in lines
    assert 'plano_t_seconds_count{l="x"} 3' in lines
    assert 'plano_t_seconds_sum{l="x"} 5.55' in lines


def test_snapshots_merge_counters_histograms_and_gauges_by_their_rule() -> None:
    def process(n: int, inflight: int, breaker: int) -> MetricsRegistry:
        r = MetricsRegistry()
        r.counter("plano_req_total", "", ("l",)).inc(("m",), n)
        r.counter("plano_cost_usd_total", "", (), exact=True).inc((), Decimal("0.1"))
        r.histogram("plano_d_seconds", "", (), buckets=(1.0,)).observe((), 0.5)
        r.gauge("plano_in_flight", "", ()).set((), inflight)
        r.gauge("plano_breaker", "", (), merge="max").set((), breaker)
        r.gauge("plano_store_up", "", (), merge="min").set((), 1 - breaker)
        r.gauge("plano_budget", "", (), merge="local").set((), 7 + n)
        return r

    me, other, dead = process(1, 2, 0), process(10, 3, 1), process(100, 5, 0)
    # Snapshots travel as JSON between processes.
    others = [json.loads(json.dumps(s.snapshot(now=t))) for s, t in ((other, 100.0), (dead, 1.0))]
    values = merge(me, others, own=me.snapshot(), gauges_after=50.0)
    assert values["plano_req_total"] == {("m",): 111}  # every process, dead ones too
    assert values["plano_cost_usd_total"] == {(): Decimal("0.3")}  # exact
    assert values["plano_d_seconds"][()][:2] == [3, 0]
    assert values["plano_in_flight"] == {(): 5}  # the dead process's 5 are not in flight
    assert values["plano_breaker"] == {(): 1}
    assert values["plano_store_up"] == {(): 0}
    assert values["plano_budget"] == {(): 8}  # read by the scraping process alone


def test_a_family_only_another_process_knows_is_skipped() -> None:
    mine, theirs = MetricsRegistry(), MetricsRegistry()
    theirs.counter("plano_new_total", "").inc()
    assert merge(mine, [theirs.snapshot()]) == {}


def test_collectors_run_before_each_snapshot_and_are_replaced_by_key() -> None:
    r = MetricsRegistry()
    g = r.gauge("plano_g", "", ())
    r.collector("runtime", lambda: g.set((), 1))
    r.collector("runtime", lambda: g.set((), 2))  # a reload's snapshot replaces the old one
    assert r.snapshot()["families"]["plano_g"] == [[[], 2]]


async def test_a_failing_scrape_time_collector_does_not_fail_the_scrape() -> None:
    r = MetricsRegistry()
    g = r.gauge("plano_g", "", (), merge="local")

    async def broken() -> None:
        raise RuntimeError("store down")

    async def fine() -> None:
        g.set((), 3)

    r.async_collector("a", broken)
    r.async_collector("b", fine)
    await r.collect_async()
    assert g.values == {(): 3}


def test_quantiles_interpolate_inside_buckets() -> None:
    buckets = (0.1, 0.2, 0.4)
    assert quantile(0.5, buckets, [0, 0, 0, 0]) is None
    assert quantile(0.5, buckets, [0, 10, 0, 0]) == pytest.approx(0.15)
    assert quantile(0.99, buckets, [100, 0, 0, 0]) == pytest.approx(0.099)
    assert quantile(0.99, buckets, [0, 0, 0, 5]) == 0.4  # +Inf: the highest bound
