"""``bench/state.py``'s pure parts: the summary of its rounds, the report section, and writing
that section into an existing report without touching the rest."""

from __future__ import annotations

from bench.report import STATE_HEADING, _state
from bench.state import splice

STATE = {
    "generated_at": "2026-12-02 00:30 UTC",
    "method": "3 rounds x 5 s",
    "rows": [
        {
            "backend": "memory",
            "workers": 1,
            "rps": 2000.0,
            "p50_ms": 20.0,
            "p99_ms": 40.0,
            "errors": 0,
            "vs_memory": 1.0,
            "per_request": {"usage_batches_per_record": 0.0024},
        },
        {
            "backend": "servers",
            "workers": 2,
            "rps": 3100.0,
            "p50_ms": 15.0,
            "p99_ms": 36.0,
            "errors": 0,
            "vs_memory": 0.94,
            "per_request": {
                "usage_batches_per_record": 0.0044,
                "redis_commands": 0.0055,
                "pg_transactions": 0.0073,
            },
        },
    ],
}


def test_the_section_shows_each_backend_and_its_operations() -> None:
    text = _state(STATE)
    assert "| memory | 1 | 2,000 | 20.00 | 40.00 | 1.00x | 0.0024 | - | - | 0 |" in text
    assert "| servers | 2 | 3,100 | 15.00 | 36.00 | 0.94x | 0.0044 | 0.0055 | 0.0073 | 0 |" in text
    assert _state(None).startswith("_Not measured")


def test_splice_replaces_the_section_or_adds_it_after_the_workers_one() -> None:
    report = "# B\n\n## Worker processes\n\nw\n\n## Memory\n\nm\n"
    once = splice(report, STATE_HEADING, "first")
    workers = "# B\n\n## Worker processes\n\nw\n\n"
    assert once == f"{workers}{STATE_HEADING}\n\nfirst\n\n## Memory\n\nm\n"
    twice = splice(once, STATE_HEADING, "second")
    assert twice == once.replace("first", "second")
    assert splice("# B\n", STATE_HEADING, "x") == f"# B\n\n{STATE_HEADING}\n\nx\n"
