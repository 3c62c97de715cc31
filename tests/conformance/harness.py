"""A real gateway, built as ``plano up`` builds it, and a simulated provider that speaks every
family, both on one background event loop (in this process, 127.0.0.1 only), for tests that
drive them with synchronous clients (httpx, the official SDKs).

Deployments are named after their upstream family: ``openai-up``, ``anthropic-up``,
``gemini-up``, ``responses-up`` (OpenAI Responses as the upstream wire); ``<name>-429`` and
``<name>-cut`` inject those faults through a deployment header the simulator reads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web
from tests.conformance.clients import HTTP

from plano.config import check_config
from plano.pipeline.filters import Filter
from plano.server.gateway import Gateway
from plano.server.runner import build_gateway
from plano.sim import RecordedRequest, SimOptions, SimServer
from plano.sim.server import new_event_loop

T = TypeVar("T")

KEY = "sk-sim-conformance"
#: Upstream family -> (provider/model, extra provider fields).
UPSTREAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("openai/gpt-4o-mini", {}),
    "anthropic": ("anthropic/claude-sonnet-4-5", {}),
    "gemini": ("gemini/gemini-2.5-flash", {}),
    "openai_responses": ("openai/gpt-4o", {"provider_interface": "openai_responses"}),
}
NAMES = {
    "openai": "openai-up",
    "anthropic": "anthropic-up",
    "gemini": "gemini-up",
    "openai_responses": "responses-up",
}
FAULTS = ("429", "cut")


def plano_config(sim_url: str) -> dict[str, Any]:
    providers = []
    for family, (model, extra) in UPSTREAMS.items():
        base = {"access_key": KEY, "base_url": sim_url, **extra}
        providers.append({"model": model, "name": NAMES[family], **base})
        for fault in FAULTS:
            providers.append(
                {
                    "model": f"{model}-{fault}",
                    "name": f"{NAMES[family]}-{fault}",
                    "headers": {"x-sim-fault": fault},
                    **base,
                }
            )
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "20s"}],
        "model_providers": providers,
        # One attempt: the fault deployments must answer with their fault, not be retried.
        "fallback": {"max_attempts": 1},
    }


@dataclass
class Env:
    url: str
    sim: SimServer
    gateway: Gateway
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def last_upstream(self) -> RecordedRequest:
        return self.sim.requests[-1]

    def replay(self, rec: RecordedRequest) -> dict[str, Any]:
        """The upstream request sent again, non-stream, straight to the simulator: what the
        provider itself reports for it."""
        body = dict(rec.body)
        path = rec.path.replace(":streamGenerateContent", ":generateContent")
        body.pop("stream_options", None)
        if body.get("stream"):
            body["stream"] = False
        headers = {k: v for k, v in rec.headers.items() if k in _AUTH}
        r = HTTP.post(self.sim.url + path, json=body, headers=headers)
        r.raise_for_status()
        return orjson.loads(r.content)  # type: ignore[no-any-return]


def reported_usage(family: str, u: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """What the upstream reported, in canonical terms, written out per family."""
    if family == "openai":
        cached = u["prompt_tokens_details"]["cached_tokens"]
        reasoning = u["completion_tokens_details"]["reasoning_tokens"]
        return (u["prompt_tokens"], u["completion_tokens"], cached, 0, reasoning)
    if family == "anthropic":
        read, write = u["cache_read_input_tokens"], u["cache_creation_input_tokens"]
        return (u["input_tokens"] + read + write, u["output_tokens"], read, write, 0)
    if family == "gemini":
        thoughts = u.get("thoughtsTokenCount", 0)
        out = u["candidatesTokenCount"] + thoughts
        return (u["promptTokenCount"], out, u.get("cachedContentTokenCount", 0), 0, thoughts)
    cached = u["input_tokens_details"]["cached_tokens"]
    reasoning = u["output_tokens_details"]["reasoning_tokens"]
    return (u["input_tokens"], u["output_tokens"], cached, 0, reasoning)


def usage_of(family: str, answer: dict[str, Any]) -> dict[str, Any]:
    return answer["usageMetadata"] if family == "gemini" else answer["usage"]  # type: ignore[no-any-return]


_AUTH = ("authorization", "x-api-key", "x-goog-api-key", "anthropic-version")


@contextmanager
def serve(options: SimOptions | None = None, filters: Sequence[Filter] = ()) -> Iterator[Env]:
    loop = new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="conformance", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    sim = SimServer(options or SimOptions())
    run(sim.start())
    config, issues = check_config(plano_config(sim.url), {})
    assert config is not None, issues
    gateway = build_gateway(config, extra_filters=filters)

    async def start() -> tuple[web.AppRunner, str]:
        runner = web.AppRunner(gateway.app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, f"http://127.0.0.1:{port}"

    runner, url = run(start())
    try:
        yield Env(url, sim, gateway, loop)
    finally:
        run(runner.cleanup())
        run(sim.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
