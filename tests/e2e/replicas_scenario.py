"""Three gateway replicas on one machine, shared by `tests/e2e/test_replicas.py` and `make
replicas` (``python -m tests.e2e.replicas_scenario``, with progress lines).

Three `plano up` processes (replica b with two supervised workers), each in front of its own
simulated provider (so every answer says which replica served it: the simulator's name is in
its text and ids), behind ``tools/lb.py`` (TCP round robin) on loopback, sharing the Redis on
127.0.0.1:6379 (a key prefix of their own) and the PostgreSQL on 127.0.0.1:5432 (a schema of
their own, dropped afterwards). Clients (the openai SDK, a new connection per request, so the
balancer spreads them) send chat completions with three virtual keys: one charged to a global
dollar budget, one under a global request-rate limit, one holding Responses conversations
(``previous_response_id``). Mid-run, replica a is SIGKILLed, replica b reloaded (``plano
reload``) and a started again on its port. Clients retry a request whose connection broke,
as real clients do, with a new request id. :func:`check` then compares what the clients got
with the usage log in PostgreSQL, the budget's counters in Redis and the requests the
simulators saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openai
import yaml
from redis import Redis
from tests.e2e.conftest import SIM_KEY, Plano, start_plano

from plano.accounting.pricing import PriceBook
from plano.core.model import Usage
from plano.sim import SimOptions, SimServer

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("PLANO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PLANO_TEST_REDIS", "redis://127.0.0.1:6379/0")
NAMES = ("a", "b", "c")  # a is killed, b (two workers) reloaded, c left alone
MODEL = "gpt-4o-mini"
#: About 260 answers at ~$0.0000109 each (~8 + 16 tokens) of the 400 the budget key sends.
BUDGET = Decimal("0.0028")
NANO = Decimal(1_000_000_000)
#: Requests a day for the rate-limited key (a day bucket: a run never straddles two, except
#: just before 00:00 UTC, which :func:`check` allows for).
RATE = 150
KEYS = {
    "budget": "sk-plano-replicas-budget-0123456789",
    "rate": "sk-plano-replicas-rate-01234567890",
    "conv": "sk-plano-replicas-conv-01234567890",
}
PRICES = PriceBook()
COMPLAINTS = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")


@dataclass(frozen=True)
class Plan:
    """How much traffic; the defaults take ~20 s of traffic on a busy 2-core machine."""

    budget_clients: int = 8
    budget_requests: int = 50  # per client: 400 in all, ~1.5x what the budget covers
    rate_clients: int = 6
    rate_requests: int = 40  # per client: 240 against RATE
    conversations: int = 4
    turns: int = 8
    pace: float = 0.05  # seconds between a client's requests
    kill_at: float = 0.25  # share of the chat requests done when a is killed
    reload_at: float = 0.45  # ... and when b is reloaded and a restarted (before the limits bind)
    after_requests: int = 15  # once a is back, one at a time


@dataclass
class Answer:
    """One logical request's final outcome (after its retries)."""

    group: str
    request_id: str
    status: int
    code: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    replica: str = ""
    stream: bool = False

    @property
    def cost(self) -> Decimal:
        u = Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        c = PRICES.cost("openai", MODEL, u)
        assert c is not None
        return c


@dataclass
class Retry:
    group: str
    request_id: str
    at: float  # seconds since the traffic began
    error: str


@dataclass
class Turn:
    conversation: int
    turn: int
    response_id: str
    marker: str
    replica: str


@dataclass
class Run:
    plan: Plan
    prefix: str
    schema: str
    answers: list[Answer] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    kill_at: float = 0.0
    reload_at: float = 0.0
    restart_at: float = 0.0  # replica a serving again (same port, same stores)
    duration: float = 0.0
    #: Connections the balancer gave replica a that could have been open when it died.
    in_flight_on_killed: int = 0
    reload_generation: int = 0
    reload_errors: list[str] = field(default_factory=list)
    lb_stats: dict[str, Any] = field(default_factory=dict)
    #: What the stores held at the end.
    ledger: list[dict[str, Any]] = field(default_factory=list)
    budget_used_nano: int = 0
    budget_held_nano: int = 0
    rate_admitted: int = 0  # what the rate limit's window in Redis admitted
    sim_bodies: dict[str, list[bytes]] = field(default_factory=dict)
    day_straddled: bool = False
    #: ``/plano/v1/usage`` totals asked of each replica before they stopped.
    api_totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Warning, error and traceback lines in the replicas' logs (access log lines aside).
    complaints: list[str] = field(default_factory=list)


T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {text}", flush=True)


# ---------------------------------------------------------------- the cluster


def sim_options(name: str) -> SimOptions:
    # Answers take a while, so requests are in flight on the replica when it is killed.
    return SimOptions(name=f"replica-{name}", latency_ms=80, tokens_per_second=150)


def replica_config(sim: SimServer, schema: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": [
            {"model": f"openai/{MODEL}", "access_key": "$SIM_KEY", "base_url": sim.url}
        ],
        "state": {
            "postgres": f"{PG_URL}?search_path={schema}",
            "redis": REDIS_URL,
            "key_prefix": prefix,
            "health_sync": "250ms",
        },
        "auth": {
            "keys": [
                {"id": "budget-client", "key": KEYS["budget"], "budgets": ["shared-budget"]},
                {"id": "rate-client", "key": KEYS["rate"], "rate_limits": ["shared-rate"]},
                {"id": "conv-client", "key": KEYS["conv"]},
            ]
        },
        "budgets": [
            {
                "name": "shared-budget",
                "scope": "global",
                "period": "total",
                "usd": str(BUDGET),
                "applies": "key",
            }
        ],
        "rate_limits": [
            {
                "name": "shared-rate",
                "scope": "global",
                "requests": RATE,
                "per": "day",
                "applies": "key",
            }
        ],
        **extra,
    }


async def _pg(sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def pg(sql: str) -> list[asyncpg.Record]:
    with ThreadPoolExecutor(1) as pool:  # the caller may be inside an event loop
        return pool.submit(asyncio.run, _pg(sql)).result()


@dataclass
class Cluster:
    tmp: Path
    sims: dict[str, SimServer]
    replicas: dict[str, Plano]
    lb: subprocess.Popen[bytes]
    lb_url: str
    lb_stats_url: str
    prefix: str
    schema: str

    def config_path(self, name: str) -> Path:
        return self.tmp / name / "config.yaml"

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.lb_stats_url, timeout=5).json()
        return data


@contextlib.contextmanager
def cluster(tmp: Path) -> Iterator[Cluster]:
    """Everything up; on the way out, everything down and the run's Redis keys and PostgreSQL
    schema gone (also when the run failed)."""
    prefix = "plano-replicas-" + uuid.uuid4().hex[:10]
    schema = "plano_replicas_" + uuid.uuid4().hex[:10]
    redis = Redis.from_url(REDIS_URL)
    pg(f"CREATE SCHEMA {schema}")
    started: dict[str, Plano] = {}
    lb: subprocess.Popen[bytes] | None = None
    with contextlib.ExitStack() as stack:
        try:
            sims = {n: stack.enter_context(SimServer.in_thread(sim_options(n))) for n in NAMES}

            def start(name: str) -> Plano:
                (tmp / name).mkdir(parents=True, exist_ok=True)
                extra: dict[str, Any] = {"gateway": {"drain_timeout": "10s"}}
                if name == "b":
                    extra["gateway"]["workers"] = 2
                return start_plano(replica_config(sims[name], schema, prefix, **extra), tmp / name)

            say(f"starting replicas a, b (2 workers), c; redis prefix {prefix}, schema {schema}")
            with ThreadPoolExecutor(3) as pool:
                futures = {n: pool.submit(start, n) for n in NAMES}
                for n, f in futures.items():
                    with contextlib.suppress(Exception):
                        started[n] = f.result()
                for f in futures.values():
                    f.result()  # raises the first start-up failure, the others stopped below
            for n, p in started.items():
                say(f"replica {n}: {p.url} (pid {p.proc.pid})")
            ready = tmp / "lb.ready"
            cmd = [sys.executable, str(ROOT / "tools" / "lb.py"), "--ready-file", str(ready)]
            for p in started.values():
                cmd += ["--backend", p.url.removeprefix("http://")]
            lb = _spawn(cmd, tmp / "lb.log", dict(os.environ), tmp)
            deadline = time.monotonic() + 10
            while not ready.exists() or not ready.read_text().endswith("\n"):
                if lb.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the load balancer did not start: " + _read(tmp / "lb.log"))
                time.sleep(0.02)
            addr, stats_port = ready.read_text().split()
            say(f"load balancer: http://{addr} (stats on port {stats_port})")
            yield Cluster(
                tmp,
                sims,
                started,
                lb,
                f"http://{addr}",
                f"http://127.0.0.1:{stats_port}/",
                prefix,
                schema,
            )
        finally:
            for p in started.values():
                if p.proc.poll() is None:
                    p.proc.send_signal(signal.SIGINT)
            for p in started.values():
                try:
                    p.proc.wait(30)
                except subprocess.TimeoutExpired:
                    p.proc.kill()
            if lb is not None:
                lb.terminate()
                lb.wait(10)
            keys = list(redis.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                redis.delete(*keys)
            redis.close()
            pg(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _spawn(cmd: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd)


def _read(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


# ---------------------------------------------------------------- the clients


class Cut(Exception):
    """A stream ended without its usage chunk: the connection broke mid-answer."""


def _client(c: Cluster, key: str) -> openai.AsyncOpenAI:
    # No keep-alive: each request a new connection, so the balancer spreads every request.
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=0), timeout=30
    )
    return openai.AsyncOpenAI(
        base_url=c.lb_url + "/v1", api_key=key, max_retries=0, http_client=http
    )


def _replica(text: str) -> str:
    for n in NAMES:
        if f"replica-{n}" in text:
            return n
    return ""


BROKEN = (openai.APIConnectionError, httpx.TransportError, Cut)


async def _chat(client: openai.AsyncOpenAI, group: str, i: int, rid: str) -> Answer:
    headers = {"x-request-id": rid}
    messages: list[Any] = [{"role": "user", "content": f"hello from {group} {i}"}]
    stream = i % 2 == 1
    try:
        if not stream:
            r = await client.chat.completions.create(
                model=MODEL, messages=messages, max_tokens=16, extra_headers=headers
            )
            assert r.usage is not None
            replica = _replica(r.id + (r.choices[0].message.content or ""))
            return Answer(
                group, rid, 200, "", r.usage.prompt_tokens, r.usage.completion_tokens, replica
            )
        s = await client.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
        usage, ids = None, ""
        async for chunk in s:
            ids = chunk.id
            usage = chunk.usage or usage
        if usage is None:
            raise Cut(rid)
        a = Answer(group, rid, 200, "", usage.prompt_tokens, usage.completion_tokens, _replica(ids))
        a.stream = True
        return a
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        return Answer(group, rid, exc.status_code, str(body.get("code") or ""))


class Traffic:
    def __init__(self, c: Cluster, run: Run) -> None:
        self.c = c
        self.run = run
        self.start = time.monotonic()
        p = run.plan
        self.total = p.budget_clients * p.budget_requests + p.rate_clients * p.rate_requests
        self.done = 0
        self.killed = asyncio.Event()
        self.reloaded = asyncio.Event()
        self.kill_due = asyncio.Event()
        self.reload_due = asyncio.Event()

    def now(self) -> float:
        return time.monotonic() - self.start

    def finished_one(self) -> None:
        self.done += 1
        if self.done >= self.total * self.run.plan.kill_at:
            self.kill_due.set()
        if self.done >= self.total * self.run.plan.reload_at:
            self.reload_due.set()
        if self.done % 50 == 0:
            by = Counter((a.group, a.status) for a in self.run.answers)
            say(f"{self.done}/{self.total} chat requests done {dict(sorted(by.items()))}")

    async def chat_client(self, group: str, key: str, n: int) -> None:
        client = _client(self.c, key)
        async with client:
            for i in range(n):
                while True:
                    rid = f"{group}-{uuid.uuid4().hex}"
                    try:
                        answer = await _chat(client, group, i, rid)
                    except BROKEN as exc:
                        self.run.retries.append(Retry(group, rid, self.now(), type(exc).__name__))
                        continue  # a real client's retry: the same request, a new id
                    break
                self.run.answers.append(answer)
                self.finished_one()
                await asyncio.sleep(self.run.plan.pace)

    async def conversation(self, n: int) -> None:
        client = _client(self.c, KEYS["conv"])
        previous: str | None = None
        async with client:
            for t in range(self.run.plan.turns):
                marker = f"conv{n}-turn{t}-{uuid.uuid4().hex[:6]}"
                while True:
                    rid = f"conv-{uuid.uuid4().hex}"
                    try:
                        r = await client.responses.create(
                            model=MODEL,
                            input=f"remember {marker}",
                            max_output_tokens=16,
                            previous_response_id=previous,
                            extra_headers={"x-request-id": rid},
                        )
                    except BROKEN as exc:
                        self.run.retries.append(Retry("conv", rid, self.now(), type(exc).__name__))
                        continue
                    break
                assert r.usage is not None
                replica = _replica(r.output_text)
                u = r.usage
                self.run.answers.append(
                    Answer("conv", rid, 200, "", u.input_tokens, u.output_tokens, replica)
                )
                self.run.turns.append(Turn(n, t, r.id, marker, replica))
                previous = r.id
                await asyncio.sleep(self.run.plan.pace * 10)

    async def kill_and_reload(self) -> None:
        await self.kill_due.wait()
        before = self.c.stats()
        victim = self.c.replicas["a"]
        victim.proc.send_signal(signal.SIGKILL)
        self.run.kill_at = self.now()
        await asyncio.to_thread(victim.proc.wait, 10)
        await asyncio.sleep(0.5)
        after = self.c.stats()
        a_before, a_after = before["backends"][0], after["backends"][0]
        # Open at the snapshot, or opened between it and the kill.
        self.run.in_flight_on_killed = a_before["open"] + (
            a_after["connections"] - a_before["connections"]
        )
        say(
            f"SIGKILLed replica a at {self.run.kill_at:.1f}s "
            f"({self.run.in_flight_on_killed} connection(s) to it open or opening; "
            "answered ones may not have closed yet)"
        )
        await self.reload_due.wait()
        await asyncio.gather(self.reload_b(), self.restart_a())

    async def restart_a(self) -> None:
        """Replica a again, on its port, over the same stores: the balancer takes it back."""
        a = self.c.replicas["a"]
        folder = self.c.config_path("a").parent
        ready = folder / "ready"
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "plano", "up", str(self.c.config_path("a"))]
        cmd += ["--host", "127.0.0.1", "--port", a.url.rsplit(":", 1)[1]]
        cmd += ["--ready-file", str(ready)]
        log = folder / "plano-restarted.log"
        env = {**os.environ, "PLANO_TEST": "1", "SIM_KEY": SIM_KEY}
        proc = await asyncio.to_thread(_spawn, cmd, log, env, folder)
        self.c.replicas["a"] = Plano(a.url, proc, log)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"replica a did not restart:\n{_read(log)}")
            await asyncio.sleep(0.05)
        self.run.restart_at = self.now()
        say(f"replica a restarted at {self.run.restart_at:.1f}s (pid {proc.pid})")

    async def after(self, n: int) -> None:
        """Once a is back: one request at a time, each on a new connection, so round robin
        gives a its share again."""
        client = _client(self.c, KEYS["conv"])
        async with client:
            for i in range(n):
                rid = f"after-{uuid.uuid4().hex}"
                self.run.answers.append(await _chat(client, "after", i, rid))

    async def reload_b(self) -> None:
        b = self.c.replicas["b"]
        path = self.c.config_path("b")
        cfg = yaml.safe_load(path.read_text())
        cfg["model_aliases"] = {"after-reload": {"target": f"openai/{MODEL}"}}
        path.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "SIM_KEY": SIM_KEY}
        cmd = [sys.executable, "-m", "plano", "reload", "--pid", str(b.proc.pid), str(path)]
        self.run.reload_at = self.now()
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, cwd=path.parent, stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            self.run.reload_errors.append(out.decode(errors="replace"))
        say(
            f"plano reload of replica b (2 workers) at {self.run.reload_at:.1f}s: "
            f"exit {proc.returncode}"
        )
        # Both workers reach generation 2 (each status request may land on either).
        async with httpx.AsyncClient(timeout=5) as http:
            seen: dict[int, int] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                st = (
                    await http.get(b.url + "/plano/v1/status", headers={"connection": "close"})
                ).json()
                seen[st["pid"]] = st["generation"]
                if len(seen) == 2 and all(g >= 2 for g in seen.values()):
                    break
                await asyncio.sleep(0.1)
            self.run.reload_generation = min(seen.values()) if len(seen) == 2 else 0


async def traffic(c: Cluster, run: Run) -> None:
    t = Traffic(c, run)
    p = run.plan
    day = math.floor(time.time() / 86400)
    say(
        f"traffic: {p.budget_clients} budget clients x {p.budget_requests}, {p.rate_clients} "
        f"rate clients x {p.rate_requests}, {p.conversations} conversations x {p.turns} turns"
    )
    tasks = [
        t.chat_client("budget", KEYS["budget"], p.budget_requests) for _ in range(p.budget_clients)
    ]
    tasks += [t.chat_client("rate", KEYS["rate"], p.rate_requests) for _ in range(p.rate_clients)]
    tasks += [t.conversation(n) for n in range(p.conversations)]
    await asyncio.gather(t.kill_and_reload(), *tasks)
    run.duration = t.now()
    await t.after(p.after_requests)
    run.day_straddled = math.floor(time.time() / 86400) != day
    say(
        f"traffic done in {run.duration:.1f}s; {len(run.retries)} retried after a broken connection"
    )


def collect(c: Cluster, run: Run) -> None:
    """Stop the replicas (their writers flush on the way out), then read the stores."""
    run.lb_stats = c.stats()
    # What `/plano/v1/usage` says on every replica, once their writers' last interval passed.
    time.sleep(0.5)
    for n in NAMES:
        r = httpx.get(c.replicas[n].url + "/plano/v1/usage?limit=1", timeout=10)
        run.api_totals[n] = r.json()["totals"]
    for n in NAMES:
        p = c.replicas[n]
        p.proc.send_signal(signal.SIGINT)
    for n in NAMES:
        code = c.replicas[n].proc.wait(30)
        assert code == 0, f"replica {n} exited {code}:\n{c.replicas[n].output()[-4000:]}"
    rows = pg(
        # Clients' ids (each request sends its own): the key is Plano's id, x-plano-request-id.
        f"SELECT client_request_id AS request_id, status, principal, input_tokens, "
        f"output_tokens, cost_usd "
        f"FROM {c.schema}.usage_records"
    )
    run.ledger = [dict(r) for r in rows]
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k for k in redis.scan_iter(match=f"{c.prefix}:*shared-budget*", count=1000)]
        for k in keys:
            if redis.type(k) == b"hash":
                h = redis.hgetall(k)
                run.budget_used_nano += int(float(h.get(b"u", 0)))
                run.budget_held_nano += int(float(h.get(b"h", 0)))
        for k in redis.scan_iter(match=f"{c.prefix}:*shared-rate*", count=1000):
            if redis.type(k) == b"hash":  # the window: one field per fixed bucket (day)
                run.rate_admitted += sum(int(float(v)) for v in redis.hgetall(k).values())
    finally:
        redis.close()
    run.sim_bodies = {n: [r.raw_body for r in s.requests] for n, s in c.sims.items()}
    for log in sorted(c.tmp.glob("*/plano*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{") and any(w in line for w in COMPLAINTS):
                run.complaints.append(f"{log.parent.name}/{log.name}: {line[:200]}")
    say(f"ledger: {len(run.ledger)} records in {c.schema}.usage_records")


# ---------------------------------------------------------------- the checks


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def ok(self, cond: bool, text: str) -> None:
        self.lines.append(("ok    " if cond else "FAIL  ") + text)
        if not cond:
            self.failures.append(text)


def _ceil_nano(cost: Decimal) -> int:
    return int((cost * NANO).to_integral_value(rounding="ROUND_CEILING"))


def check(run: Run) -> Report:
    rep = Report()
    answers = run.answers
    ok = [a for a in answers if a.status == 200]
    statuses = Counter((a.group, a.status, a.code) for a in answers)
    rep.lines.append(f"answers: {dict(sorted(statuses.items()))}")
    served = Counter(a.replica for a in ok)
    rep.lines.append(f"answered by replica: {dict(sorted(served.items()))}")

    # 1. Nothing lost: every logical request ended 200 or 429 from a limit; the only broken
    #    connections are those open on the killed replica, right after the kill.
    expected = run.plan.budget_clients * run.plan.budget_requests
    expected += run.plan.rate_clients * run.plan.rate_requests
    expected += run.plan.conversations * run.plan.turns + run.plan.after_requests
    rep.ok(len(answers) == expected, f"{len(answers)} of {expected} requests got an answer")
    bad = [a for a in answers if a.status not in (200, 429)]
    rep.ok(not bad, f"no answer other than 200 or a limit's 429 ({len(bad)}: {bad[:3]})")
    late = [r for r in run.retries if not run.kill_at <= r.at <= run.kill_at + 5.0]
    rep.ok(not late, f"every retry follows the kill within 5 s ({len(late)} others: {late[:3]})")
    rep.ok(
        len(run.retries) <= run.in_flight_on_killed,
        f"{len(run.retries)} retried <= {run.in_flight_on_killed} connections open on the killed "
        "replica",
    )
    rep.ok(
        all(a.replica for a in ok) and served["b"] > 0 and served["c"] > 0 and served["a"] > 0,
        "every answer names its replica; all three served",
    )

    after = Counter(a.replica for a in ok if a.group == "after")
    rep.ok(
        after["a"] > 0 and sum(after.values()) == run.plan.after_requests,
        f"replica a restarted at {run.restart_at:.1f}s; the balancer gave it {after['a']} of "
        f"the {run.plan.after_requests} requests sent afterwards ({dict(sorted(after.items()))})",
    )

    rep.ok(
        not run.complaints,
        f"no warning, error or traceback in the replicas' logs ({run.complaints[:3]})",
    )

    # 2. The reload: refused by nothing, both of b's workers on generation 2.
    rep.ok(not run.reload_errors, f"plano reload exit 0 {run.reload_errors[:1]}")
    rep.ok(run.reload_generation >= 2, f"b's workers at generation {run.reload_generation}")

    # 3. The global rate limit: the accepted count is within the limit; the lost in-flight
    #    requests of the rate key may have taken slots.
    rate_ok = sum(1 for a in ok if a.group == "rate")
    rate_refused = statuses[("rate", 429, "rate_limit_exceeded")]
    rate_lost = sum(1 for r in run.retries if r.group == "rate")
    limit = RATE * (2 if run.day_straddled else 1)
    rep.ok(
        RATE - rate_lost <= rate_ok <= limit and rate_refused > 0,
        f"rate limit {RATE}/day across replicas: {rate_ok} accepted "
        f"(+{rate_lost} lost in flight), {rate_refused} refused",
    )
    rep.ok(
        rate_ok <= run.rate_admitted <= min(limit, rate_ok + rate_lost),
        f"the window in Redis admitted {run.rate_admitted} (the answered {rate_ok} + at most "
        f"the {rate_lost} lost in flight)",
    )

    # 4. The budget: never overrun; the counter's spend equals the settled costs.
    budget_ok = [a for a in ok if a.group == "budget"]
    answered_cost = sum((a.cost for a in budget_ok), Decimal(0))
    rep.ok(
        answered_cost <= BUDGET and statuses[("budget", 429, "budget_exceeded")] > 0,
        f"budget ${BUDGET}: {len(budget_ok)} answered costing ${answered_cost} (over by "
        f"${max(Decimal(0), answered_cost - BUDGET)}), "
        f"{statuses[('budget', 429, 'budget_exceeded')]} refused",
    )
    used = Decimal(run.budget_used_nano) / NANO
    rep.ok(
        run.budget_used_nano <= int(BUDGET * NANO),
        f"budget counter in Redis: used ${used}, held ${Decimal(run.budget_held_nano) / NANO} "
        "(a hold of a request killed on a stays until it expires)",
    )

    # 5. The ledger: PostgreSQL's usage log against what the clients got.
    ledger = {r["request_id"]: r for r in run.ledger}
    answered = {a.request_id: a for a in ok}
    phantom = [rid for rid, r in ledger.items() if r["status"] == 200 and rid not in answered]
    rep.ok(not phantom, f"no record of a 200 no client got ({len(phantom)}: {phantom[:3]})")
    sent = {a.request_id for a in answers} | {r.request_id for r in run.retries}
    strays = [rid for rid in ledger if rid not in sent]
    rep.ok(not strays, f"every record is a request a client sent ({len(strays)}: {strays[:3]})")
    missing = [a for a in ok if a.request_id not in ledger]
    rep.ok(
        all(a.replica == "a" for a in missing),
        f"{len(missing)} answered request(s) missing from the log, all from the killed replica "
        "(its writer's queue)",
    )
    mismatched = [
        a.request_id
        for a in ok
        if a.request_id in ledger
        and (
            ledger[a.request_id]["input_tokens"] != a.input_tokens
            or ledger[a.request_id]["output_tokens"] != a.output_tokens
            or Decimal(ledger[a.request_id]["cost_usd"]) != a.cost
        )
    ]
    rep.ok(not mismatched, f"every record's tokens and cost match its answer ({mismatched[:3]})")
    logged = [a for a in ok if a.request_id in ledger]
    tokens_answered = sum(a.input_tokens + a.output_tokens for a in logged)
    cost_answered = sum((a.cost for a in logged), Decimal(0))
    recs = [r for r in run.ledger if r["status"] == 200]
    tokens_logged = sum(r["input_tokens"] + r["output_tokens"] for r in recs)
    cost_logged = sum((Decimal(r["cost_usd"]) for r in recs), Decimal(0))
    rep.ok(
        (tokens_logged, cost_logged) == (tokens_answered, cost_answered),
        f"usage log totals {tokens_logged} tokens, ${cost_logged} == the answers' "
        f"{tokens_answered} tokens, ${cost_answered}",
    )
    seen = {(t["requests"], Decimal(str(t["cost_usd"]))) for t in run.api_totals.values()}
    logged = (len(run.ledger), sum((Decimal(r["cost_usd"] or 0) for r in run.ledger), Decimal(0)))
    rep.ok(
        seen == {logged},
        f"/plano/v1/usage on each replica: {sorted(seen)} == the log's {logged}",
    )
    # The budget's counter (each cost settled rounded up to a nano-dollar) against the answers
    # and the log. A settlement the killed replica had not made yet is lost with it (its hold
    # expires): at most the budget answers a served.
    answered_nano = sum(_ceil_nano(a.cost) for a in budget_ok)
    logged_nano = sum(
        _ceil_nano(Decimal(r["cost_usd"]))
        for r in recs
        if r["principal"] == "budget-client" and r["request_id"] in answered
    )
    missing_nano = sum(_ceil_nano(a.cost) for a in missing if a.group == "budget")
    on_a = sum(_ceil_nano(a.cost) for a in budget_ok if a.replica == "a")
    rep.ok(
        answered_nano - on_a <= run.budget_used_nano <= answered_nano,
        f"budget counter {run.budget_used_nano} n$ == the answers' costs {answered_nano} n$ "
        f"(short by {answered_nano - run.budget_used_nano}); the log's {logged_nano} n$ "
        f"+ {missing_nano} n$ of records lost on the killed replica",
    )

    # 6. Conversations: every turn reached its simulator with the whole conversation before it.
    broken_turns = []
    hops = 0
    for conv in range(run.plan.conversations):
        turns = sorted((t for t in run.turns if t.conversation == conv), key=lambda t: t.turn)
        for i, t in enumerate(turns):
            # The upstream request of turn i: its marker and every earlier one, no later one.
            later = [p.marker.encode() for p in turns[i + 1 :]]
            got = [
                n
                for n, bodies in run.sim_bodies.items()
                for body in bodies
                if t.marker.encode() in body
                and all(p.marker.encode() in body for p in turns[:i])
                and not any(m in body for m in later)
            ]
            if t.replica not in got:
                broken_turns.append(t.marker)
            if i and t.replica != turns[i - 1].replica:
                hops += 1
    rep.ok(
        not broken_turns and len(run.turns) == run.plan.conversations * run.plan.turns,
        f"{len(run.turns)} Responses turns, each upstream with its whole history "
        f"({len(broken_turns)} without)",
    )
    rep.ok(hops > 0, f"{hops} turns continued on another replica than the turn before")
    return rep


def run_scenario(tmp: Path, plan: Plan | None = None) -> tuple[Run, Report]:
    global T0
    T0 = time.monotonic()
    run = Run(plan or Plan(), "", "")
    with cluster(tmp) as c:
        run.prefix, run.schema = c.prefix, c.schema
        asyncio.run(traffic(c, run))
        collect(c, run)
    rep = check(run)
    for line in rep.lines:
        say(line)
    return run, rep


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="plano-replicas-") as tmp:
        _, rep = run_scenario(Path(tmp))
    say("PASS" if not rep.failures else f"{len(rep.failures)} check(s) FAILED")
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
