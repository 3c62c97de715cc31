"""Prometheus metrics and cost attribution through `plano up` with two workers and the
openai SDK: every scrape (whichever worker takes it) counts every request exactly once,
labels are the config's names only, a killed worker's counts survive its restart, the
summary endpoint agrees, and `plano cost` reports exact costs by key and team as a table,
CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.e2e.conftest import SIM_KEY, Plano, e2e_config, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

ADMIN = "admin-secret-for-metrics-0123456789"
KEYS = {  # static virtual keys (docs/auth.md): id -> (key, user, team)
    "alice": ("alice-key-0123456789abcdef", "alice", "search"),
    "bob": ("bob-key-0123456789abcdef00", "bob", "ads"),
}
USER: Any = [{"role": "user", "content": "Hello there"}]
SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def metrics_config(sims: dict[str, SimServer], metrics_port: int) -> dict[str, Any]:
    config = e2e_config(sims)
    config["model_providers"].append(
        {"model": "openai/*", "access_key": "$SIM_KEY", "base_url": sims["ok"].url}
    )
    config["gateway"] = {"workers": 2, "admin_key": ADMIN, "drain_timeout": "5s"}
    config["metrics"] = {"port": metrics_port, "publish_interval": "0.2s"}
    config["auth"] = {
        "keys": [
            {"id": kid, "key": key, "principal": {"user": user, "team": team}}
            for kid, (key, user, team) in KEYS.items()
        ]
    }
    return config


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def served(sims: dict[str, SimServer], home: Path) -> Iterator[tuple[Plano, str]]:
    port = free_port()
    p = start_plano(metrics_config(sims, port), home)
    yield p, f"http://127.0.0.1:{port}"
    assert p.stop(signal.SIGTERM) == 0, p.output()


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """One scrape on a new connection (either worker may take it): name -> labels -> value."""
    r = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m is not None, line
        labels = tuple(LABEL.findall(m.group(2) or ""))
        out.setdefault(m.group(1), {})[labels] = float(m.group(3))
    return out


def total(values: dict[str, dict[Any, float]], name: str, **match: str) -> float:
    return sum(
        v
        for labels, v in values.get(name, {}).items()
        if all(dict(labels).get(k) == want for k, want in match.items())
    )


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def send(url: str, key: str, model: str = "gpt-4o-mini", *, stream: bool = False) -> None:
    # A client per request: a new connection, so both workers take some.
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=15)
    with client:
        if stream:
            chunks = client.chat.completions.create(
                model=model, messages=USER, stream=True, stream_options={"include_usage": True}
            )
            assert any(c.usage is not None for c in chunks)
        else:
            assert client.chat.completions.create(model=model, messages=USER).usage is not None


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_every_scrape_counts_every_request_once_with_fixed_labels(
    served: tuple[Plano, str],
) -> None:
    plano, metrics = served
    sent = 0
    for i in range(12):
        kid = "alice" if i % 3 else "bob"
        send(plano.url, KEYS[kid][0], stream=i % 2 == 0)
        sent += 1
    send(plano.url, KEYS["alice"][0], model="openai/client-named-model-xyz")
    sent += 1
    with pytest.raises(openai.RateLimitError):
        send(plano.url, KEYS["bob"][0], model="mistral/mistral-small-latest")  # 429
    sent += 1
    with pytest.raises(openai.AuthenticationError):
        send(plano.url, "not-a-key-0123456789")  # 401, before any model
    sent += 1

    def counted() -> bool:  # by both workers: each sees the other's file, up to 0.2 s old
        return all(total(scrape(metrics), "plano_requests_total") == sent for _ in range(6))

    wait_for("every worker's requests in one scrape", counted)
    seen_processes = set()
    for _ in range(10):  # whichever worker takes the scrape: the same totals
        v = scrape(metrics)
        assert total(v, "plano_requests_total") == sent
        assert total(v, "plano_requests_total", status="2xx") == 13
        assert total(v, "plano_requests_total", status="4xx", error="upstream_status") == 1
        assert total(v, "plano_upstream_attempts_total", outcome="upstream_status") == 1
        assert total(v, "plano_requests_total", error="unauthenticated") == 1
        assert total(v, "plano_request_duration_seconds_count", listener="llm") == sent
        assert total(v, "plano_upstream_attempts_total", model="openai/*", outcome="ok") == 1
        assert total(v, "plano_time_to_first_token_seconds_count") == 6
        assert total(v, "plano_tokens_total", kind="input") > 0
        assert total(v, "plano_cost_usd_total", model="openai/gpt-4o-mini") > 0
        assert total(v, "plano_decisions_total", source="auth", action="allow") >= 13
        assert total(v, "plano_store_up", store="durable") == 1
        seen_processes.add(total(v, "plano_metrics_processes"))
    assert seen_processes == {2}
    # Labels are the config's names: the client's model name appears nowhere.
    allowed_models = {
        "openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile", "mistral/mistral-small-latest",
        "deepseek/deepseek-chat", "xai/grok-3", "together_ai/dead", "openai/*", "(none)",
    }  # fmt: skip
    text = httpx.get(metrics + "/metrics").text
    assert "client-named-model-xyz" not in text and "alice-key" not in text
    for name, series in scrape(metrics).items():
        for labels in series:
            model = dict(labels).get("model")
            if model is not None and name.startswith(("plano_upstream", "plano_tokens",
                                                      "plano_cost", "plano_time_to")):  # fmt: skip
                assert model in allowed_models, (name, labels)

    summary = httpx.get(
        plano.url + "/plano/v1/metrics/summary?minutes=5",
        headers={"authorization": f"Bearer {ADMIN}"},
    ).json()
    assert summary["processes"] == 2 and summary["totals"]["requests"] == sent
    gpt = next(m for m in summary["models"] if m["model"] == "openai/gpt-4o-mini")
    assert gpt["requests"] == 12 and Decimal(gpt["cost_usd"]) > 0
    assert gpt["latency_ms"]["p50"] is not None and gpt["ttft_ms"]["p95"] is not None
    no_key = httpx.get(plano.url + "/plano/v1/metrics/summary")
    assert no_key.status_code == 401


def test_a_killed_worker_keeps_its_counts_and_its_replacement_adds_to_them(
    served: tuple[Plano, str],
) -> None:
    plano, metrics = served
    # Every worker's file is current (publish_interval 0.2s) once the count holds still for
    # a while; a fixed sleep before a single scrape could read a file not yet published.
    before = total(scrape(metrics), "plano_requests_total")
    steady = time.monotonic()
    deadline = steady + 60
    while time.monotonic() - steady < 1.0:
        assert time.monotonic() < deadline, "the request count never settled"
        time.sleep(0.1)
        now = total(scrape(metrics), "plano_requests_total")
        if now != before:
            before, steady = now, time.monotonic()
    victim = children(plano.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for("a new worker", lambda: victim not in children(plano.proc.pid)
             and len(children(plano.proc.pid)) == 2)  # fmt: skip
    for _ in range(5):
        assert total(scrape(metrics), "plano_requests_total") == before  # no reset, no double
    for _ in range(4):
        send(plano.url, KEYS["bob"][0])
    wait_for(
        "the new requests",
        lambda: all(total(scrape(metrics), "plano_requests_total") == before + 4 for _ in range(6)),
    )
    assert total(scrape(metrics), "plano_metrics_processes") == 3  # the dead one's file too


def cost(run: Callable[..., Any], plano: Plano, *args: str) -> str:
    done = run("cost", "--url", plano.url, "--admin-key", ADMIN, *args)
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def test_plano_cost_by_key_and_team_as_table_csv_and_json(
    served: tuple[Plano, str], run_cli: Callable[..., Any]
) -> None:
    plano, _ = served
    made = run_cli(
        "keys", "create", "--id", "carol", "--user", "carol", "--team", "search",
        "--url", plano.url, "--admin-key", ADMIN, "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    send(plano.url, json.loads(made.stdout)["key"])

    by_team = json.loads(cost(run_cli, plano, "--by", "team", "--format", "json"))
    teams = {g["team"]: g for g in by_team["groups"]}
    assert {"search", "ads", None} <= set(teams)
    # Exact: the groups add up to the totals, to the last digit.
    assert sum(Decimal(g["cost_usd"]) for g in by_team["groups"]) == Decimal(
        by_team["totals"]["cost_usd"]
    )
    assert sum(g["requests"] for g in by_team["groups"]) == by_team["totals"]["requests"]
    assert teams["search"]["requests"] >= 10  # alice's and carol's
    rows = list(csv.DictReader(io.StringIO(cost(run_cli, plano, "--by", "key,team",
                                                "--format", "csv"))))  # fmt: skip
    assert set(rows[0]) == {"key", "team", "requests", "errors", "input_tokens",
                            "output_tokens", "cost_usd"}  # fmt: skip
    keys = {r["key"]: r for r in rows}
    assert keys["carol"]["team"] == "search" and keys["carol"]["requests"] == "1"
    assert keys["bob"]["team"] == "ads"
    assert Decimal(keys["alice"]["cost_usd"]) > 0
    only = json.loads(cost(run_cli, plano, "--by", "user", "--team", "search", "--since",
                           "1h", "--json"))  # fmt: skip
    assert {g["user"] for g in only["groups"]} == {"alice", "carol"}
    table = cost(run_cli, plano, "--by", "team")
    assert "search" in table and "ads" in table and "total" in table
    bad = run_cli("cost", "--url", plano.url, "--admin-key", ADMIN, "--by", "colour")
    assert bad.returncode == 1 and "cannot group by" in bad.stderr
    # The key material never reaches the usage log's attribution.
    assert all(KEYS["alice"][0] not in json.dumps(g) for g in by_team["groups"])
    _ = SIM_KEY
