"""``bench/sizing.py``'s pure parts: the worked sizing table and counter deltas."""

from __future__ import annotations

import pytest
from bench.sizing import LOADS, Load, figures, per_request, plan, table

FIG = {
    "rps_per_worker": 1000.0,
    "rss_loaded_mb": 100.0,
    "kb_per_stream": 40.0,
    "stream_cpu_cores": 0.0002,
    "redis_per_req": 3.0,
    "pg_xact_per_req": 0.01,
    "pg_rows_per_req": 1.0,
}


def test_requests_need_cores_at_the_utilisation_given() -> None:
    row = plan(Load(rps=2000), FIG, utilisation=0.5, workers_per_replica=2)
    # 2,000 req/s at 1,000 per core, each core at most half busy: 4 workers, 2 replicas.
    assert row["workers"] == 4
    assert row["replicas"] == 2
    assert row["cores_busy"] == 2.0
    assert row["memory_mb"] == 400
    assert row["memory_per_replica_mb"] == 200
    assert row["redis_cmds_per_s"] == 6000
    assert row["pg_xacts_per_s"] == 20.0
    assert row["pg_rows_per_s"] == 2000


def test_workers_round_up_to_whole_replicas() -> None:
    row = plan(Load(rps=2100), FIG, utilisation=1.0, workers_per_replica=2)
    assert row["workers"] == 4  # 2.1 cores -> 3 workers -> 2 replicas of 2
    assert row["replicas"] == 2


def test_streams_cost_memory_and_cpu() -> None:
    row = plan(Load(streams=5000), FIG, utilisation=0.5, workers_per_replica=1)
    # 5,000 x 0.0002 cores = 1 core busy, at half: 2 workers; 5,000 x 40 KB = 195 MB more.
    assert row["workers"] == 2
    assert row["cores_busy"] == 1.0
    assert row["memory_mb"] == round(2 * 100 + 5000 * 40 / 1024)
    assert row["redis_cmds_per_s"] == 0


def test_no_load_still_needs_one_replica() -> None:
    row = plan(Load(), FIG)
    assert row["replicas"] == 1
    assert row["workers"] == 2


def test_utilisation_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        plan(Load(rps=1), FIG, utilisation=0)


def test_per_request_divides_deltas_and_needs_requests() -> None:
    before = {"redis_cmds": 10.0, "pg_xacts": 5.0}
    after = {"redis_cmds": 310.0, "pg_xacts": 6.0, "new": 1.0}
    assert per_request(before, after, 100) == {"redis_cmds": 3.0, "pg_xacts": 0.01}
    with pytest.raises(ValueError):
        per_request(before, after, 0)


DOC = {
    "throughput": {"json": {"bare": {"rps": 1000.0}, "limits": {"rps": 500.0}}},
    "rss_loaded_mb": {"bare": 90.0, "limits": 95.0},
    "ops_per_request": {
        "bare": {
            "redis_cmds": 0.01,
            "redis_xadd": 0.005,
            "redis_xrange": 0.005,
            "pg_xacts": 0.01,
            "pg_rows": 1.0,
        },
        "limits": {
            "redis_cmds": 28.0,
            "redis_evalsha": 3.0,
            "redis_hincrbyfloat": 4.0,
            "redis_xadd": 0.01,
            "pg_xacts": 0.02,
            "pg_rows": 1.2,
        },
    },
    "streams": {
        "rss_idle_mb": 80.0,
        "steps": [{"open": 1000, "rss_mb": 120.0, "cpu_cores": 0.3}],
        "rss_after_close_mb": 160.0,
        "kb_per_stream": 90.0,
    },
}


def test_figures_count_round_trips_not_commands_run_inside_scripts() -> None:
    fig = figures(DOC, "limits")
    assert fig["redis_per_req"] == 3.01  # EVALSHA + XADD; not the HINCRBYFLOATs inside them
    assert fig["rps_per_worker"] == 500.0
    assert fig["rss_loaded_mb"] == 95.0
    # Per stream from the first step (headroom left), not the saturated slope.
    assert fig["kb_per_stream"] == 40.96
    assert fig["stream_cpu_cores"] == 0.0003


def test_table_has_a_row_per_load() -> None:
    text = table(DOC, "bare", utilisation=0.5)
    rows = text.splitlines()[2:]
    assert len(rows) == len(LOADS)
    assert rows[1].startswith("| 2,000 req/s | 2.0 | 4 | 2 |")
    assert rows[-1].startswith("| 5,000 open streams |")
