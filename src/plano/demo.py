"""``plano demo``: the gateway with simulated providers, a little traffic, and a report.

Everything runs in one process on 127.0.0.1: no keys, no network. The config it serves is an
ordinary Plano config (written to ``.plano/demo-config.yaml``) whose providers point at the
simulators, so what the demo shows is what ``plano up`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from plano.config import PlanoConfig, check_config
from plano.demo_agents import AGENT_LISTENER, travel_agents, travel_config
from plano.server.agent_listener import AgentListener
from plano.server.runner import build_gateway, gateway_listeners
from plano.sim import SimOptions, SimServer

__all__ = ["run_demo"]

console = Console(highlight=False)
if not console.is_terminal:
    console.width = max(console.width, 130)  # logs and CI: keep the table on one line per row


@dataclass(slots=True)
class Shot:
    """One demo request and what came back."""

    label: str
    body: dict[str, Any]
    #: Client API: ``chat`` (OpenAI chat completions), ``messages`` (Anthropic), ``responses``.
    api: str = "chat"
    #: ``model``: the model listener; ``agents``: the travel assistant's agent listener.
    target: str = "model"
    status: int = 0
    provider: str = "-"
    model: str = "-"
    attempts: str = "-"
    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost: str | None = None
    latency_ms: float = 0.0
    overhead_ms: str = "-"
    error: str | None = None


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))  # 0: any free port
            return int(s.getsockname()[1])
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def demo_config(
    sims: dict[str, str], agents: dict[str, str] | None = None, agent_port: int = 8001
) -> dict[str, Any]:
    """A Plano v0.4.0 config whose providers are the simulators; with ``agents`` (id ->
    URL), the travel assistant behind an agent listener on ``agent_port``."""
    travel = travel_config(agents, agent_port) if agents else None
    return {
        "version": "v0.4.0",
        "listeners": [
            {"type": "model", "name": "llm", "port": 12000, "timeout": "30s"},
            *([travel["listener"]] if travel else []),
        ],
        **({"agents": travel["agents"]} if travel else {}),
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$OPENAI_API_KEY",
                "base_url": sims["openai"],
                "default": True,
            },
            {"model": "openai/gpt-4o", "access_key": "sim-key", "base_url": sims["openai"]},
            {
                "model": "groq/llama-3.3-70b-versatile",
                "access_key": "sim-key",
                "base_url": sims["groq"],
            },
            {
                "model": "mistral/mistral-small-latest",
                "access_key": "sim-key",
                "base_url": sims["flaky"],
            },
            {
                "model": "anthropic/claude-haiku-4-5",
                "access_key": "sim-key",
                "base_url": sims["anthropic"],
            },
            {
                "model": "gemini/gemini-2.5-flash",
                "access_key": "sim-key",
                "base_url": sims["gemini"],
            },
        ],
        "model_aliases": {
            "fast": {"target": "groq/llama-3.3-70b-versatile"},
            "smart": {"target": "openai/gpt-4o"},
        },
        # Plano's own users asked for this most: on a 429, answer from another provider.
        "fallback": {"models": {"mistral/mistral-small-latest": ["groq/llama-3.3-70b-versatile"]}},
    }


def _shots() -> list[Shot]:
    user = [{"role": "user", "content": "Say hello to the Plano demo."}]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}},
                    "required": ["location"],
                },
            },
        }
    ]
    return [
        Shot("default model (no model given)", {"messages": user}),
        Shot("alias 'smart'", {"model": "smart", "messages": user}),
        Shot("alias 'fast', streamed", {"model": "fast", "messages": user, "stream": True}),
        Shot(
            "stream with include_usage",
            {
                "model": "openai/gpt-4o-mini",
                "messages": user,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
        Shot(
            "tool call",
            {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
                "tools": tools,
            },
        ),
        Shot(
            "Anthropic Messages -> Claude",
            {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": user},
            api="messages",
        ),
        Shot(
            "Anthropic Messages -> OpenAI, streamed",
            {"model": "gpt-4o-mini", "max_tokens": 64, "messages": user, "stream": True},
            api="messages",
        ),
        Shot(
            "OpenAI Responses -> Gemini",
            {"model": "gemini-2.5-flash", "input": "Say hello to the Plano demo."},
            api="responses",
        ),
        Shot("chat -> Gemini", {"model": "gemini/gemini-2.5-flash", "messages": user}),
        Shot(
            "429 from mistral, fell back",
            {"model": "mistral/mistral-small-latest", "messages": user},
        ),
        Shot("unknown model", {"model": "gpt-4o-mimi", "messages": user}),
        Shot("wrong type", {"model": "fast", "messages": user, "max_tokens": "ten"}),
        *_agent_shots(),
    ]


def _agent_shots() -> list[Shot]:
    trip = [{"role": "user", "content": "Plan a trip: fly from Oslo to Rome on Friday."}]
    rain = [{"role": "user", "content": "Will it rain in Rome this weekend?"}]
    return [
        Shot(
            "agents: trip -> flight, then weather",
            {"model": "travel", "messages": trip},
            target="agents",
        ),
        Shot(
            "agents: default agent, streamed",
            {"model": "travel", "messages": rain, "stream": True},
            target="agents",
        ),
        Shot(
            "agents: Anthropic Messages -> agents",
            {"model": "travel", "max_tokens": 64, "messages": trip},
            api="messages",
            target="agents",
        ),
    ]


_PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}


def _stream_text(api: str, data: dict[str, Any]) -> str:
    """The text delta of one streamed event, in whichever client API it came."""
    if api == "messages":
        delta = data.get("delta") or {}
        return str(delta.get("text") or "") if data.get("type") == "content_block_delta" else ""
    if api == "responses":
        return str(data.get("delta") or "") if data.get("type", "").endswith("text.delta") else ""
    return "".join((c.get("delta") or {}).get("content") or "" for c in data.get("choices") or ())


def _answer_text(api: str, data: dict[str, Any]) -> str:
    if api == "messages":
        return "".join(b.get("text", "") for b in data.get("content") or ())
    if api == "responses":
        return "".join(
            c.get("text", "")
            for item in data.get("output") or ()
            for c in item.get("content") or ()
            if c.get("type") == "output_text"
        )
    msg = data["choices"][0]["message"]
    calls = msg.get("tool_calls") or []
    return msg.get("content") or " ".join(
        f"{c['function']['name']}({c['function']['arguments']})" for c in calls
    )


async def _send(session: aiohttp.ClientSession, bases: dict[str, str], shot: Shot) -> None:
    t0 = time.perf_counter()
    base = bases["model"]
    headers = {"anthropic-version": "2023-06-01"} if shot.api == "messages" else {}
    url = bases[shot.target] + _PATHS[shot.api]
    async with session.post(url, data=orjson.dumps(shot.body), headers=headers) as resp:
        shot.status = resp.status
        shot.provider = resp.headers.get("x-plano-provider", "-")
        shot.model = resp.headers.get("x-plano-model", "-")
        if shot.target == "agents":
            shot.provider, shot.model = "agents", resp.headers.get("x-plano-agents", "-")
        shot.attempts = resp.headers.get("x-plano-attempts", "-")
        shot.overhead_ms = resp.headers.get("x-plano-overhead-ms", "-")
        if shot.body.get("stream") and resp.status == 200:
            pieces = []
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    pieces.append(_stream_text(shot.api, orjson.loads(line[6:])))
            shot.text = "".join(pieces)
        else:
            data = orjson.loads(await resp.read())
            if resp.status >= 400:
                shot.error = data["error"]["message"]
            else:
                shot.text = _answer_text(shot.api, data)
        shot.latency_ms = (time.perf_counter() - t0) * 1000
        request_id = resp.headers.get("x-request-id")
    if request_id and shot.target == "model":  # agent turns: their model calls are the cost
        await _fill_usage(session, base, request_id, shot)


async def _fill_usage(
    session: aiohttp.ClientSession, base: str, request_id: str, shot: Shot
) -> None:
    # The ledger is written after the answer (off the hot path): give it a moment.
    for _ in range(20):
        async with session.get(f"{base}/plano/v1/requests/{request_id}") as resp:
            if resp.status == 200:
                rec = orjson.loads(await resp.read())
                shot.input_tokens = rec["input_tokens"]
                shot.output_tokens = rec["output_tokens"]
                shot.cached_tokens = rec["cache_read_tokens"]
                shot.cost = rec["cost_usd"]
                return
        await asyncio.sleep(0.02)


def _table(shots: list[Shot]) -> Table:
    t = Table(title="Requests through Plano", title_justify="left")
    for col, justify in (
        ("#", "right"),
        ("client API -> upstream", "left"),
        ("status", "right"),
        ("answered by", "left"),
        ("tokens in/out", "right"),
        ("cost $", "right"),
        ("tries", "right"),
        ("ms", "right"),
        ("plano ms", "right"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for n, s in enumerate(shots, 1):
        ok = s.status < 400
        tokens = f"{s.input_tokens}/{s.output_tokens}" if s.input_tokens is not None else "-"
        t.add_row(
            str(n),
            s.label,
            f"[{'green' if ok else 'red'}]{s.status}[/]",
            f"{s.provider}/{s.model}" if s.provider != "-" else "-",
            tokens,
            f"{float(s.cost):.6f}" if s.cost else "-",
            s.attempts,
            f"{s.latency_ms:.1f}",
            s.overhead_ms,
        )
    return t


def _answers(shots: list[Shot]) -> None:
    for n, s in enumerate(shots, 1):
        if s.status < 400:
            console.print(f"[dim]{n:>2}[/] {escape(s.text[:100])}", soft_wrap=True)
        else:
            console.print(f"[dim]{n:>2}[/] [red]{escape(s.error or '')}[/]", soft_wrap=True)


@contextlib.asynccontextmanager
async def _simulators() -> AsyncIterator[dict[str, str]]:
    async with (
        SimServer(SimOptions(name="openai", latency_ms=40, tokens_per_second=300)) as openai,
        SimServer(SimOptions(name="groq", latency_ms=8, tokens_per_second=1200)) as groq,
        SimServer(SimOptions(name="mistral", fault="429", retry_after=2)) as flaky,
        SimServer(SimOptions(name="anthropic", latency_ms=25, tokens_per_second=400)) as claude,
        SimServer(SimOptions(name="gemini", latency_ms=15, tokens_per_second=800)) as gemini,
    ):
        yield {
            "openai": openai.url,
            "groq": groq.url,
            "flaky": flaky.url,
            "anthropic": claude.url,
            "gemini": gemini.url,
        }


def _write_config(raw: dict[str, Any]) -> None:
    """Start-up, before any traffic: a blocking write is fine here."""
    Path(".plano").mkdir(exist_ok=True)
    Path(".plano/demo-config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@contextlib.asynccontextmanager
async def _serve(config: PlanoConfig, port: int, agent_port: int) -> AsyncIterator[dict[str, str]]:
    """The model listener on ``port``; the agent listener (when the config has one) on
    ``agent_port``, served from the same runtime (started with the model listener's app)."""
    gateway = build_gateway(config)
    runner = web.AppRunner(gateway.app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bases = {"model": f"http://127.0.0.1:{port}"}
    agents = next((x for x in gateway_listeners(gateway) if isinstance(x, AgentListener)), None)
    agent_runner: web.AppRunner | None = None
    try:
        if agents is not None:
            app = web.Application()
            app.router.add_routes(agents.routes())
            agent_runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
            await agent_runner.setup()
            await web.TCPSite(agent_runner, "127.0.0.1", agent_port).start()
            bases["agents"] = f"http://127.0.0.1:{agent_port}"
        yield bases
    finally:
        if agent_runner is not None:
            await agent_runner.cleanup()
        await runner.cleanup()


async def _demo(port: int, keep: bool) -> int:
    bases: dict[str, str] = {}
    async with _simulators() as sims, travel_agents(lambda: bases["model"]) as agent_urls:
        port = _free_port(port)
        agent_port = _free_port(8001 if port != 8001 else 0)
        raw = demo_config(sims, agent_urls, agent_port)
        config, issues = check_config(raw, {**os.environ, "OPENAI_API_KEY": "sim-key"})
        if config is None:
            for i in issues:
                console.print(f"[red]{i}[/]")
            return 1
        _write_config(raw)
        async with _serve(config, port, agent_port) as served:
            bases.update(served)
            console.print(
                Panel.fit(
                    f"Plano gateway on [bold]{bases['model']}[/] with 5 simulated providers\n"
                    f"agent listener [bold]{AGENT_LISTENER}[/] on [bold]{bases['agents']}[/]: "
                    "the travel assistant (flight and weather agents)\n"
                    "config: .plano/demo-config.yaml (an ordinary Plano config)",
                    title="plano demo",
                )
            )
            await _traffic(bases)
            if keep:
                _try_it(bases)
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
    return 0


async def _traffic(bases: dict[str, str]) -> None:
    shots = _shots()
    async with aiohttp.ClientSession() as session:
        for shot in shots:
            await _send(session, bases, shot)
        console.print(_table(shots))
        _answers(shots)
        async with session.get(f"{bases['model']}/plano/v1/usage") as resp:
            totals = orjson.loads(await resp.read())["totals"]
    console.print(
        f"totals: {totals['requests']} requests (agent turns and the model calls their agents "
        f"made included), {totals['errors']} errors, "
        f"{totals['input_tokens']} in / {totals['output_tokens']} out tokens, "
        f"${float(totals['cost_usd']):.6f}"
    )


def _try_it(bases: dict[str, str]) -> None:
    base, agents = bases["model"], bases["agents"]
    console.print(
        f"\nserving until Ctrl-C. try:\n  curl -s {base}/v1/chat/completions "
        "-H 'content-type: application/json' "
        '-d \'{"model":"fast","messages":[{"role":"user","content":"hi"}]}\'\n'
        f"  curl -s {agents}/v1/chat/completions -H 'content-type: application/json' "
        '-d \'{"messages":[{"role":"user","content":"a trip to Rome by plane"}]}\'\n'
        f"  curl -s '{base}/plano/v1/usage?group_by=agent,route'"
    )


def run_demo(port: int = 12000, keep: bool = False) -> int:
    try:
        import uvloop

        return uvloop.run(_demo(port, keep))
    except KeyboardInterrupt:
        return 0
