"""Agent orchestration costs: the offline chooser per turn, and the latency an agent hop adds.

    .venv/bin/python -m bench.agents [--n 400] [--rounds 3]

1. Choosing: ``Orchestrator.choose`` with the offline embedding chooser (wordllama, Plano's
   travel demo descriptions) and with rules; the figure is the median of runs of the per-call
   mean (target: under 1 ms per turn).
2. Hops: a stand-in agent (aiohttp, instant fixed answer, its own process) called directly and
   through `plano up` (an agent listener with rules): one agent, a sequence of 2 and a parallel
   run of 3. The baseline of a sequence of 2 is two direct calls one after the other; of a
   parallel 3, three direct calls at once. Targets alternate round by round; *added* is the
   median over rounds of (median through Plano - median direct). Concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from plano.agents.choosers import EmbeddingChooser, Orchestrator, RulesChooser, Turn
from plano.agents.orchestrator import AgentCard
from plano.config.agents import AgentRule
from plano.core.model import Message, TextPart

WEATHER = (
    "WeatherAgent is a specialized AI assistant for real-time weather information and "
    "forecasts for any city worldwide: current temperature, multi-day forecasts, sunrise and "
    "sunset times."
)
FLIGHTS = (
    "FlightAgent provides live flight information between airports: flight status, "
    "departure and arrival times, gates, delays, aircraft type."
)
QUESTIONS = [
    "What's the weather in Paris tomorrow?",
    "Are there direct flights from Seattle to Tokyo?",
    "Is it going to rain in London this weekend, and should I pack an umbrella?",
    "When does flight AF123 land?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- choosing


async def _per_call_us(orch: Orchestrator, n: int) -> float:
    turns = [Turn([Message("user", [TextPart(q)])]) for q in QUESTIONS]
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for i in range(n):
            await orch.choose(turns[i % len(turns)])
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def choosing(n: int) -> dict[str, float]:
    cards = [AgentCard("weather_agent", WEATHER), AgentCard("flight_agent", FLIGHTS, True)]
    emb = EmbeddingChooser(cards)
    emb.load()
    rules = RulesChooser(
        [
            AgentRule(agents=["weather_agent"], contains=["weather", "rain", "forecast"]),
            AgentRule(agents=["flight_agent"], pattern=r"\bflights?\b"),
        ]
    )
    return {
        "embedding_us": asyncio.run(_per_call_us(Orchestrator(cards, chooser=emb), n)),
        "rules_us": asyncio.run(_per_call_us(Orchestrator(cards, rules=rules), n)),
    }


# ---------------------------------------------------------------------------- hops

AGENT_SERVER = """
import sys
from aiohttp import web
BODY = (b'{"id":"c","object":"chat.completion","created":0,"model":"m","choices":'
        b'[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}]}')
async def answer(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/{agent}/v1/chat/completions", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _config(agent_url: str, ports: dict[str, int]) -> dict[str, Any]:
    agents = ["a1", "a2", "a3"]
    cards = [{"id": a, "description": a} for a in agents]
    rules = [
        {"agents": ["a1"], "contains": ["one"]},
        {"agents": ["a1", "a2"], "contains": ["two"]},
        {"agents": ["a1", "a2", "a3"], "contains": ["three"]},
    ]
    base = {"chooser": "rules", "rules": rules, "sessions": {"enabled": False}}
    return {
        "version": "v0.4.0",
        "gateway": {"log_level": "warning"},
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "agents": [{"id": a, "url": f"{agent_url}/{a}"} for a in agents],
        "listeners": [
            {"type": "model", "name": "llm", "port": ports["model"]},
            {
                "type": "agent",
                "name": "seq",
                "port": ports["seq"],
                "agents": cards,
                "orchestration": base,
            },
            {
                "type": "agent",
                "name": "par",
                "port": ports["par"],
                "agents": cards,
                "orchestration": {**base, "mode": "parallel"},
            },
        ],
    }


def _body(text: str) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


async def _time(session: aiohttp.ClientSession, calls: list[tuple[str, bytes]], par: bool) -> float:
    async def one(url: str, body: bytes) -> None:
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
            await r.read()
            assert r.status == 200, r.status

    t = time.perf_counter()
    if par:
        await asyncio.gather(*(one(u, b) for u, b in calls))
    else:
        for u, b in calls:
            await one(u, b)
    return (time.perf_counter() - t) * 1e3


async def _hops(agent_url: str, urls: dict[str, str], n: int, rounds: int) -> dict[str, Any]:
    direct = f"{agent_url}/a1/v1/chat/completions"
    body = _body("hi")
    cases = {
        "one agent": (([(direct, body)], False), ([(urls["seq"], _body("one"))], False)),
        "sequence of 2": (([(direct, body)] * 2, False), ([(urls["seq"], _body("two"))], False)),
        "parallel of 3": (([(direct, body)] * 3, True), ([(urls["par"], _body("three"))], False)),
    }
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for calls, par in [c for pair in cases.values() for c in pair]:  # warm up
            for _ in range(50):
                await _time(session, calls, par)
        for name, (base, through) in cases.items():
            added, d_med, p_med = [], [], []
            for _ in range(rounds):
                d = [await _time(session, *base) for _ in range(n)]
                p = [await _time(session, *through) for _ in range(n)]
                d_med.append(statistics.median(d))
                p_med.append(statistics.median(p))
                added.append(statistics.median(p) - statistics.median(d))
            out[name] = {
                "direct_ms": statistics.median(d_med),
                "plano_ms": statistics.median(p_med),
                "added_ms": statistics.median(added),
            }
    return out


def hops(n: int, rounds: int) -> dict[str, Any]:
    agent_port = _free_port()
    ports = {k: _free_port() for k in ("model", "seq", "par")}
    agent = subprocess.Popen([sys.executable, "-c", AGENT_SERVER, str(agent_port)])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        agent_url = f"http://127.0.0.1:{agent_port}"
        cfg.write_text(yaml.safe_dump(_config(agent_url, ports)))
        ready = Path(tmp) / "ready"
        plano = subprocess.Popen(
            [sys.executable, "-m", "plano", "up", str(cfg), "--ready-file", str(ready)],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PLANO_TEST": "1"},
        )
        try:
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # the agent server
            urls = {k: f"http://127.0.0.1:{ports[k]}/v1/chat/completions" for k in ("seq", "par")}
            return asyncio.run(_hops(agent_url, urls, n, rounds))
        finally:
            plano.send_signal(signal.SIGINT)
            plano.wait(15)
            agent.terminate()
            agent.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    chose = choosing(2000)
    print("| chooser | per turn |\n|---|---|")
    print(f"| embedding (wordllama, offline) | {chose['embedding_us']:.1f} µs |")
    print(f"| rules | {chose['rules_us']:.1f} µs |")
    result = hops(args.n, args.rounds)
    print("\n| hop | direct p50 | through Plano p50 | added |\n|---|---|---|---|")
    for name, r in result.items():
        print(
            f"| {name} | {r['direct_ms']:.3f} ms | {r['plano_ms']:.3f} ms | "
            f"{r['added_ms']:.3f} ms |"
        )


if __name__ == "__main__":
    main()
