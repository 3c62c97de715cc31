"""Pool strategies: each orders a pool for one request."""

from __future__ import annotations

import random
from collections import Counter

from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS
from plano.routing.strategies import Member, Signals, order


def dep(name: str) -> Deployment:
    return Deployment(name, "openai", name, KNOWN_PROVIDERS["openai"], "http://x")


A, B, C = dep("a"), dep("b"), dep("c")


def keys(deps: list[Deployment]) -> list[str]:
    return [d.name for d in deps]


def test_weighted_follows_the_weights_and_returns_everyone() -> None:
    rng = random.Random(1)
    members = [Member(A, 3), Member(B, 1)]
    firsts = Counter(order("weighted", members, Signals(rng.random))[0].name for _ in range(4000))
    assert 0.70 < firsts["a"] / 4000 < 0.80
    assert sorted(keys(order("weighted", members, Signals(rng.random)))) == ["a", "b"]


def test_round_robin_rotates_by_turn() -> None:
    members = [Member(A), Member(B), Member(C)]
    rnd = random.Random(0).random
    assert [keys(order("round_robin", members, Signals(rnd, turn=t)))[0] for t in range(4)] == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert keys(order("round_robin", members, Signals(rnd, turn=1))) == ["b", "c", "a"]


def test_least_busy_puts_fewest_in_flight_first() -> None:
    busy = {"a": 5, "b": 0, "c": 2}
    s = Signals(random.random, in_flight=lambda d: busy[d.name])
    assert keys(order("least_busy", [Member(A), Member(B), Member(C)], s)) == ["b", "c", "a"]


def test_lowest_latency_measures_unknown_first_then_fastest() -> None:
    lat: dict[str, float | None] = {"a": 300.0, "b": None, "c": 20.0}
    s = Signals(random.random, latency=lambda d: lat[d.name])
    assert keys(order("lowest_latency", [Member(A), Member(B), Member(C)], s)) == ["b", "c", "a"]
    lat["b"] = 100.0
    assert keys(order("lowest_latency", [Member(A), Member(B), Member(C)], s)) == ["c", "b", "a"]


def test_cheapest_orders_by_cost_unknown_last() -> None:
    cost: dict[str, float | None] = {"a": None, "b": 0.5, "c": 0.1}
    s = Signals(random.random, cost=lambda d: cost[d.name])
    assert keys(order("cheapest", [Member(A), Member(B), Member(C)], s)) == ["c", "b", "a"]


def test_single_member_skips_the_strategy() -> None:
    def boom() -> float:
        raise AssertionError("no randomness needed")

    assert order("weighted", [Member(A)], Signals(boom)) == [A]
