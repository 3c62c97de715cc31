"""Three replicas behind a load balancer, one SIGKILLed and one reloaded under traffic: nothing
lost but what was in flight on the killed one (retried by the clients), the global rate limit
and budget hold across replicas, and the usage log in PostgreSQL matches the answers exactly.
The scenario and its checks live in `replicas_scenario.py` (also `make replicas`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from redis import Redis
from tests.e2e import replicas_scenario as scenario

pytestmark = pytest.mark.e2e


def _reachable() -> str | None:
    try:
        with Redis.from_url(scenario.REDIS_URL, socket_timeout=2) as redis:
            redis.ping()
        scenario.pg("SELECT 1")
    except Exception as exc:  # either server missing: skip, as the other state tests do
        if os.environ.get("CI"):
            raise
        return f"Redis or PostgreSQL not reachable: {exc}"
    return None


def test_three_replicas_survive_a_kill_and_a_reload_with_exact_limits_and_ledger(
    tmp_path: Path,
) -> None:
    why = _reachable()
    if why is not None:
        pytest.skip(why)
    run, report = scenario.run_scenario(tmp_path)
    assert not report.failures, "\n".join(report.lines)
    # The kill, the reload and the restart happened while traffic flowed.
    assert 0 < run.kill_at < run.reload_at < run.duration
    assert run.kill_at < run.restart_at
    assert sum(1 for a in run.answers if a.replica == "a") > 0
