"""``python -m bench.policy_micro``: what a 10-rule Rego policy costs per request.

Three figures, each the fastest of ``--rounds`` rounds (on a shared machine the other rounds
measure the neighbours):

* **engine**: one evaluation of the 10-rule policy below over a realistic input document
  (JSON in, every decision rule out), p50 and p99 of single calls too;
* **filter**: the policy filter's request phase as the gateway runs it (input document built
  from a request context, evaluated, decisions applied and recorded), and the response
  phase of an answer with two tool calls;
* **gateway**: non-stream requests through an in-process gateway to the simulated provider,
  one at a time, with the policy and with the same config without it (the bare config): the
  difference per request is the policy's whole added cost.

Prints a table, and the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.core.model import ChatRequest, ChatResponse, Choice, Message, TextPart, Tool, ToolCall
from plano.pipeline.context import Principal, RequestContext
from plano.policy import policy_filter
from plano.rego import Module, Program, sample_input
from plano.server.runner import build_gateway
from plano.sim import SimServer

__all__ = ["POLICY", "main"]

#: Ten decision rules of the kinds a platform team writes.
POLICY = """package plano.bench

deny contains msg if {
	input.principal.team == "contractors"
	not startswith(input.request.model, "mistral/")
	msg := "contractors use EU models only"
}

deny contains msg if {
	input.agent == "support"
	"db_write" in input.tools
	input.principal.tenant == "locked"
	msg := "support may not offer db_write"
}

deny contains msg if {
	input.request.estimated_tokens > 100000
	msg := sprintf("prompt too large: %d tokens", [input.request.estimated_tokens])
}

deny contains "no tool hops" if input.hop == "tool"

deny contains "blocked user" if {
	is_string(input.principal.user)
	regex.match(`(?i)^(mallory|eve)$`, input.principal.user)
}

deny contains "no shell" if {
	some call in input.tool_calls
	call.name == "shell"
}

deny contains "too many messages" if input.request.message_count > 500

route := "mistral/mistral-small-latest" if "free-tier" in input.principal.tags

cap_max_tokens := 1024 if input.principal.team == "interns"

strip_tools contains name if {
	some name in input.tools
	startswith(name, "admin_")
}
"""


def _fastest(call: Callable[[], object], n: int, rounds: int) -> float:
    call()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def _percentiles(call: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    samples.sort()
    return samples[n // 2], samples[int(n * 0.99)]


def _config(sim_url: str, with_policy: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "k",
                "base_url": sim_url,
                "default": True,
            },
            {"model": "mistral/mistral-small-latest", "access_key": "k", "base_url": sim_url},
        ],
    }
    if with_policy:
        data["policies"] = [{"name": "bench", "rego": POLICY}]
    return data


def _context() -> RequestContext:
    req = ChatRequest(
        "gpt-4o-mini",
        [Message("system", [TextPart("You are helpful." * 8)])]
        + [Message("user", [TextPart("What is the weather in Paris today? " * 20)])] * 6,
        max_tokens=512,
        tools=[Tool("get_weather"), Tool("admin_reset"), Tool("db_read")],
    )
    ctx = RequestContext("req", "openai_chat", {}, request=req, listener="llm")
    ctx.principal = Principal("key_1", "key", "alice", "support", "acme", frozenset({"beta"}))
    return ctx


async def _filter_figures(n: int, rounds: int) -> dict[str, float]:
    config, issues = check_config(_config("http://127.0.0.1:9", True), {})
    assert config is not None, issues
    f = policy_filter(config)
    assert f is not None
    await f.start()
    answer = ChatResponse(
        "r",
        "gpt-4o-mini",
        [
            Choice(
                0,
                Message(
                    "assistant",
                    tool_calls=[
                        ToolCall("c1", "get_weather", '{"city": "Paris"}'),
                        ToolCall("c2", "db_read", '{"sql": "SELECT 1"}'),
                    ],
                ),
                "tool_calls",
            )
        ],
    )

    async def timed(phase: str) -> float:
        best = float("inf")
        for _ in range(rounds):
            ctxs = [_context() for _ in range(n)]
            start = time.perf_counter()
            for ctx in ctxs:
                if phase == "request":
                    await f.on_request(ctx)
                else:
                    await f.on_response(ctx, answer)  # type: ignore[attr-defined]
            best = min(best, (time.perf_counter() - start) / n)
        return best * 1e6

    baseline = await _baseline(n, rounds)
    out = {
        "filter_request_us": await timed("request") - baseline,
        "filter_response_us": await timed("response") - baseline,
    }
    await f.close()
    return out


async def _baseline(n: int, rounds: int) -> float:
    """Building the contexts and an awaited no-op: subtracted from the filter's figures."""

    async def noop(_ctx: RequestContext) -> None:
        return None

    best = float("inf")
    for _ in range(rounds):
        ctxs = [_context() for _ in range(n)]
        start = time.perf_counter()
        for ctx in ctxs:
            await noop(ctx)
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def _gateway_figures(requests: int, rounds: int) -> dict[str, float]:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the weather in Paris today?"}],
        "max_tokens": 64,
    }
    async with SimServer() as sim:
        servers = {}
        for name, with_policy in (("bare", False), ("policy", True)):
            config, issues = check_config(_config(sim.url, with_policy), {})
            assert config is not None, issues
            runner = web.AppRunner(build_gateway(config, TokenCounter()).app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            servers[name] = (
                runner,
                f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions",
            )
        best = {name: float("inf") for name in servers}
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(rounds):
                    for name, (_, url) in servers.items():  # interleaved: the same noise for both
                        start = time.perf_counter()
                        for _ in range(requests):
                            async with session.post(url, data=orjson.dumps(body)) as r:
                                assert r.status == 200, await r.text()
                                await r.read()
                        best[name] = min(best[name], (time.perf_counter() - start) / requests)
        finally:
            for runner, _ in servers.values():
                await runner.cleanup()
    return {
        "gateway_bare_us": best["bare"] * 1e6,
        "gateway_policy_us": best["policy"] * 1e6,
        "gateway_added_us": (best["policy"] - best["bare"]) * 1e6,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500, help="gateway requests per round")
    args = parser.parse_args(argv)

    program = Program([Module("bench.rego", POLICY)])
    doc = sample_input()
    doc["request"]["messages"] = doc["request"]["messages"] * 4
    document = orjson.dumps(doc)
    assert len(program.rules) == 10, program.rules
    figures: dict[str, float] = {
        "engine_us": _fastest(lambda: program.evaluate(document), args.n, args.rounds)
    }
    p50, p99 = _percentiles(lambda: program.evaluate(document), args.n * 2)
    figures.update(engine_p50_us=p50, engine_p99_us=p99)
    figures["document_bytes"] = float(len(document))
    figures.update(asyncio.run(_filter_figures(args.n, args.rounds)))
    figures.update(asyncio.run(_gateway_figures(args.requests, args.rounds)))
    for name, value in figures.items():
        print(f"{name:24} {value:10.1f}")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))
    return figures


if __name__ == "__main__":
    main()
