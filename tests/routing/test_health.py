"""Circuit breaker state machine, Retry-After cool-down and moving averages, on a fake clock."""

from __future__ import annotations

from plano.routing.affinity import AffinityMap
from plano.routing.health import Breaker, BreakerSettings, Ewma, HealthBoard

S = BreakerSettings(consecutive_failures=3, error_rate=0.5, min_requests=10, window=60, cooldown=10)


def test_opens_after_consecutive_failures() -> None:
    b = Breaker(S)
    assert b.on_failure(0) is None and b.on_failure(1) is None
    assert b.on_failure(2) == "open"
    assert b.ready_at(3) == 12  # opened at 2, cooldown 10


def test_a_success_resets_the_consecutive_count() -> None:
    b = Breaker(S)
    b.on_failure(0)
    b.on_failure(1)
    b.on_success(2)
    assert b.on_failure(3) is None and b.state == "closed"


def test_opens_on_error_rate_over_enough_calls() -> None:
    b = Breaker(BreakerSettings(consecutive_failures=100, error_rate=0.5, min_requests=10))
    for t in range(10):  # alternate: never 2 failures in a row, 50 % failed
        (b.on_failure if t % 2 else b.on_success)(float(t))
    assert b.state == "open"


def test_error_rate_forgets_calls_older_than_the_window() -> None:
    b = Breaker(BreakerSettings(consecutive_failures=100, min_requests=4, window=10))
    for t in range(3):
        b.on_failure(float(t))
    assert b.error_rate(5.0) == (1.0, 3)
    assert b.error_rate(100.0) == (0.0, 0)


def test_half_open_probe_success_closes() -> None:
    b = Breaker(S)
    for t in range(3):
        b.on_failure(float(t))
    assert b.on_attempt(5) is None and b.state == "open"  # still cooling
    assert b.on_attempt(12) == "half_open"
    assert b.ready_at(12.5) > 12.5  # one probe at a time
    assert b.on_success(13) == "closed"
    assert b.ready_at(13) == 13


def test_half_open_probe_failure_reopens() -> None:
    b = Breaker(S)
    for t in range(3):
        b.on_failure(float(t))
    b.on_attempt(12)
    assert b.on_failure(13) == "open"
    assert b.ready_at(14) == 23


def test_a_probe_that_never_reports_expires() -> None:
    b = Breaker(S)
    for t in range(3):
        b.on_failure(float(t))
    b.on_attempt(12)  # the probe's client leaves: no outcome
    assert b.ready_at(30) == 30


def test_disabled_breaker_never_opens() -> None:
    b = Breaker(BreakerSettings(enabled=False, consecutive_failures=1))
    assert b.on_failure(0) is None and b.ready_at(0) == 0


def test_board_records_retry_after_and_latency() -> None:
    board = HealthBoard(S)
    board.record("a", 100.0, failed=True, retry_after=7)
    assert board.get("a").ready_at(101.0) == 107.0
    board.record("b", 100.0, failed=False, latency_ms=200.0)
    board.record("b", 101.0, failed=False, ttft_ms=50.0)
    h = board.get("b")
    assert h.latency(stream=False) == 200.0 and h.latency(stream=True) == 50.0
    assert board.get("c").latency(stream=True) is None
    assert {s["deployment"] for s in board.snapshot(101.0)} == {"a", "b", "c"}


def test_ewma_moves_towards_new_samples() -> None:
    e = Ewma(alpha=0.5)
    e.add(100.0)
    e.add(200.0)
    assert e.value == 150.0


def test_affinity_ttl_and_bounded_size() -> None:
    m = AffinityMap(ttl=60, max_entries=2)
    m.put("s1", "chat", "a", None, 0.0)
    assert m.get("s1", "chat", 59.0) is not None
    assert m.get("s1", "chat", 60.0) is None  # expired
    m.put("s1", "chat", "a", None, 100.0)
    m.put("s2", "chat", "b", "code", 101.0)
    m.put("s3", "chat", "c", None, 102.0)
    assert len(m) == 2 and m.get("s1", "chat", 103.0) is None  # the oldest was evicted
    pin = m.get("s2", "chat", 103.0)
    assert pin is not None and (pin.deployment, pin.route) == ("b", "code")
    assert m.get("s2", "other-model", 103.0) is None
