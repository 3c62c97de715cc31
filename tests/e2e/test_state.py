"""Shared state through real `plano up` processes: two workers with no state configured (the
embedded SQLite default), two replicas on one Redis and one PostgreSQL, and Redis killed and
brought back under load."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis
from tests.e2e.conftest import Plano, start_plano
from tests.store import test_migrations
from tests.store.test_redis_outage import OwnRedis

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e
pg_url = test_migrations.pg_url  # the fixture: a fresh PostgreSQL schema per test

CHAT = "/v1/chat/completions"
CLOSE = {"connection": "close"}  # a new connection each time: any worker may take it
Sims = dict[str, SimServer]
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@pytest.fixture(scope="module")
def sims() -> Iterator[Sims]:
    with (
        SimServer.in_thread(SimOptions(name="good")) as good,
        SimServer.in_thread(SimOptions(name="limited", fault="429", retry_after=7)) as limited,
    ):
        yield {"good": good, "limited": limited}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    (tmp_path / "redis").mkdir()
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def config(sims: Sims, **extra: Any) -> dict[str, Any]:
    def entry(model: str, name: str, sim: str) -> dict[str, Any]:
        return {"model": model, "name": name, "access_key": "k", "base_url": sims[sim].url}

    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            {**entry("openai/gpt-4o-mini", "mini", "good"), "default": True},
            entry("groq/llama-3.3-70b-versatile", "llama", "good"),
            entry("mistral/mistral-small-latest", "mistral", "limited"),
        ],
        "model_pools": {"chat": {"strategy": "round_robin", "deployments": ["mini", "llama"]}},
        "fallback": {"models": {"mistral": ["llama"]}, "max_retry_after": "1s"},
        **extra,
    }


def chat(url: str, model: str = "mini", **headers: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(url + CHAT, json=body, headers={**CLOSE, **headers}, timeout=20)
    assert r.status_code == 200, r.text
    return r


def responses_turn(url: str, previous: str | None) -> str:
    body: dict[str, Any] = {"model": "mini", "input": "and then?"}
    if previous is not None:
        body["previous_response_id"] = previous
    r = httpx.post(url + "/v1/responses", json=body, headers=CLOSE, timeout=20)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def get(url: str, path: str) -> dict[str, Any]:
    r = httpx.get(url + path, headers=CLOSE, timeout=10)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``check`` until true; the deadline is for a loaded 2-core CI box."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(p: Plano) -> None:
    """Stop a gateway; a slow or failed stop shows its log."""
    try:
        code = p.stop(timeout=30)
    except subprocess.TimeoutExpired:
        p.proc.kill()
        raise AssertionError(f"plano did not stop in time:\n{p.output()[-6000:]}") from None
    assert code == 0, p.output()


def usage_totals(url: str) -> dict[str, Any]:
    totals: dict[str, Any] = get(url, "/plano/v1/usage?limit=1000")["totals"]
    return totals


def test_two_workers_with_no_state_config_agree_on_usage_and_continue_responses(
    sims: Sims, tmp_path: Path
) -> None:
    p = start_plano(config(sims, gateway={"workers": 2, "drain_timeout": "10s"}), tmp_path)
    try:
        assert "usage log: sqlite .plano/state.db (shared by 2 workers" in p.output()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: chat(p.url).json(), range(100)))
        tokens = sum(a["usage"]["prompt_tokens"] + a["usage"]["completion_tokens"] for a in answers)

        # Both workers served: each one's writer wrote some of the 100 records.
        written: dict[int, int] = {}

        def both_workers_seen() -> bool:
            st = get(p.url, "/plano/v1/status")
            written[st["pid"]] = st["writer"]["written"]
            return len(written) == 2 and sum(written.values()) >= 100

        wait_for("both workers' writers", both_workers_seen)
        assert sum(written.values()) == 100 and min(written.values()) > 0, written

        # Exact totals, the same from either worker (each query on a new connection).
        seen = [usage_totals(p.url) for _ in range(20)]
        assert all(t == seen[0] for t in seen), seen
        t = seen[0]
        assert (t["requests"], t["errors"]) == (100, 0)
        assert t["input_tokens"] + t["output_tokens"] == tokens
        page = get(p.url, "/plano/v1/usage?limit=1000")
        assert Decimal(t["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in page["recent"])
        assert Decimal(t["cost_usd"]) > 0

        # A Responses conversation, each turn on a new connection (either worker).
        previous = None
        for _ in range(8):
            previous = responses_turn(p.url, previous)
        r = httpx.get(f"{p.url}/v1/responses/{previous}", headers=CLOSE)
        assert r.status_code == 200 and r.json()["id"] == previous
    finally:
        stop(p)
    assert (tmp_path / ".plano" / "state.db").exists()


@pytest.fixture
def replicas(
    sims: Sims, tmp_path: Path, own_redis: OwnRedis, pg_url: str
) -> Iterator[tuple[Plano, Plano]]:
    state = {"redis": own_redis.url, "postgres": pg_url, "health_sync": "200ms"}
    started: list[Plano] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            started.append(start_plano(config(sims, state=state), tmp_path / name))
        yield started[0], started[1]
    finally:
        for p in started:
            stop(p)


@needs_redis
def test_two_replicas_on_redis_and_postgres_share_usage_responses_pins_and_health(
    sims: Sims, replicas: tuple[Plano, Plano], own_redis: OwnRedis
) -> None:
    a, b = replicas
    redis = SyncRedis.from_url(own_redis.url)
    assert "usage log: postgres postgresql://postgres@127.0.0.1:5432/test" in a.output()
    assert "hot state (counters, key-value, topics): redis redis://127.0.0.1" in a.output()

    # Usage: 30 requests to one, 20 to the other; both report the 50.
    for _ in range(30):
        chat(a.url)
    for _ in range(20):
        chat(b.url)
    wait_for("50 records on a", lambda: usage_totals(a.url)["requests"] == 50)
    assert usage_totals(a.url) == usage_totals(b.url)
    rid = chat(b.url).headers["x-request-id"]
    assert get(b.url, f"/plano/v1/requests/{rid}")["request_id"] == rid  # b's queue, at once
    found = f"/plano/v1/requests/{rid}"  # a: once b's writer wrote it (one interval)
    wait_for("b's record on a", lambda: httpx.get(a.url + found, headers=CLOSE).status_code == 200)

    # A Responses conversation that alternates between the replicas.
    previous = None
    for turn in range(4):
        previous = responses_turn((a, b)[turn % 2].url, previous)

    # A session pinned on a is honoured by b. Round robin gives each replica's first request
    # to "mini": a's pinned request is its second, so it is pinned to "llama".
    chat(a.url, "chat")
    pins = len(list(redis.scan_iter("*k:pin:*")))
    pinned = chat(a.url, "chat", **{"x-plano-session-id": "conv-7"})
    assert pinned.headers["x-plano-deployment"] == "llama"
    # The pin is written in the background: wait for it in the shared Redis.
    wait_for("the pin in redis", lambda: len(list(redis.scan_iter("*k:pin:*"))) > pins)
    again = chat(b.url, "chat", **{"x-plano-session-id": "conv-7"})
    assert again.headers["x-plano-deployment"] == "llama"
    assert chat(b.url, "chat").headers["x-plano-deployment"] == "llama"  # b's round robin
    assert chat(b.url, "chat").headers["x-plano-deployment"] == "mini"

    # A 429 with Retry-After on a: b skips that deployment within one sync interval.
    first = chat(a.url, "mistral")
    assert (first.headers["x-plano-deployment"], first.headers["x-plano-attempts"]) == (
        "llama",
        "2",
    )
    limited_calls = httpx.get(sims["limited"].url + "/_sim/stats").json()["total"]

    def b_sees_the_cooldown() -> bool:
        # b's board has no "mistral" row until it merges a's view (b never called it).
        deployments = get(b.url, "/plano/v1/routing")["deployments"]
        mistral = next((d for d in deployments if d["deployment"] == "mistral"), {})
        return float(mistral.get("peers", {}).get("cooling_s", 0)) > 0

    # a published at once; b learns it within one of its sync intervals (200ms when idle).
    wait_for("b to see a's cooldown", b_sees_the_cooldown)
    second = chat(b.url, "mistral")
    assert (second.headers["x-plano-deployment"], second.headers["x-plano-attempts"]) == (
        "llama",
        "1",
    )
    assert httpx.get(sims["limited"].url + "/_sim/stats").json()["total"] == limited_calls
    health = get(b.url, "/plano/v1/routing")
    mistral = next(d for d in health["deployments"] if d["deployment"] == "mistral")
    assert mistral["peers"]["cooling_s"] > 5
    assert get(b.url, "/plano/v1/status")["stores"]["hot"]["status"] == "ok"


class Load:
    """Threads sending requests (half of them with a session id) until stopped."""

    def __init__(self, url: str, threads: int = 6) -> None:
        self.url = url
        self.results: list[int | str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, i: int) -> None:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"x-plano-session-id": f"s-{i}"} if i % 2 else {}
        with httpx.Client(timeout=15) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url + CHAT, json=body, headers=headers)
                    self.results.append(r.status_code)
                except httpx.HTTPError as exc:
                    self.results.append(repr(exc))

    def ok(self) -> int:
        return sum(1 for r in list(self.results) if r == 200)


@needs_redis
def test_redis_killed_under_load_loses_no_request_and_is_used_again_when_back(
    sims: Sims, tmp_path: Path, own_redis: OwnRedis
) -> None:
    state = {"redis": own_redis.url, "health_sync": "200ms"}
    gateway = {"workers": 2, "drain_timeout": "10s"}
    p = start_plano(config(sims, state=state, gateway=gateway), tmp_path)
    try:

        def hot(status: str) -> Callable[[], bool]:
            return lambda: all(
                get(p.url, "/plano/v1/status")["stores"]["hot"]["status"] == status
                for _ in range(6)  # several connections: both workers
            )

        def keys() -> list[str]:
            return redis_keys(own_redis)

        with Load(p.url) as load:
            wait_for("some answers", lambda: load.ok() > 50)
            wait_for("Redis in use", hot("ok"))
            own_redis.kill()
            before = load.ok()
            wait_for("Redis seen down", hot("degraded"))
            wait_for("answers while Redis is down", lambda: load.ok() > before + 100)
            own_redis.start()  # empty, on the same port
            wait_for("Redis used again", hot("ok"), timeout=30)
            back = load.ok()
            wait_for("answers after", lambda: load.ok() > back + 50)
        assert load.results and all(r == 200 for r in load.results), set(map(str, load.results))
        # Used again: the workers publish routing health there, and a new session's pin is
        # written there (the sessions pinned before stay in each worker's map until their
        # refresh, at half the TTL).
        for _ in range(4):
            chat(p.url, "chat", **{"x-plano-session-id": "after-the-outage"})
        wait_for("a pin in Redis", lambda: any(k.startswith("plano:k:pin:") for k in keys()))
        assert "plano:t:routing-health" in keys()
        # Every answered request is in the usage log (the durable store never went away).
        answered = len(load.results) + 4
        wait_for("every record", lambda: usage_totals(p.url)["requests"] == answered)
    finally:
        stop(p)

    keys_after = redis_keys(own_redis)
    assert keys_after  # (the gateway stopped; what it left is still there)


def redis_keys(server: OwnRedis) -> list[str]:
    client = SyncRedis(host="127.0.0.1", port=server.port)
    try:
        return [k.decode() for k in client.keys("*")]
    finally:
        client.close()
