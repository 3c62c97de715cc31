"""``plano demo``'s orchestration part: the travel assistant (``examples/agents/travel``)
behind an agent listener.

The two agents are the example's, served in the demo's process with :mod:`plano.sdk`'s
``AgentService`` (no subprocesses: the demo starts in a few milliseconds more). Each asks
Plano's model listener for its answer, carrying the turn's ``traceparent`` and request id,
so one turn is one trace across the agent hop and the model call it made. The agent listener
chooses with rules (no model, no embeddings to load): a trip goes to the flight agent and
then the weather agent (the weather agent sees the flight agent's answer), anything else to
the weather agent, the default.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from plano.sdk import AgentService, Turn
from plano.sdk.context import propagation_headers

__all__ = ["AGENT_LISTENER", "travel_agents", "travel_config"]

AGENT_LISTENER = "travel"
_PROMPTS = {
    "flight_agent": ("flights", "You are a flight agent. Suggest flights for the trip."),
    "weather_agent": ("weather", "You are a weather agent. Give the forecast for the trip."),
}


def travel_config(agents: Mapping[str, str], port: int) -> dict[str, Any]:
    """The config's ``agents:`` and the agent listener, as Plano writes them."""
    return {
        "agents": [{"id": ident, "url": url} for ident, url in agents.items()],
        "listener": {
            "type": "agent",
            "name": AGENT_LISTENER,
            "port": port,
            "router": "plano_orchestrator_v1",
            "timeout": "30s",
            "orchestration": {
                "chooser": "rules",
                "rules": [
                    {
                        "contains": ["flight", "fly", "trip"],
                        "agents": ["flight_agent", "weather_agent"],
                    }
                ],
            },
            "agents": [
                {"id": "flight_agent", "description": "Finds flights between cities."},
                {
                    "id": "weather_agent",
                    "description": "Weather forecasts for a city.",
                    "default": True,
                },
            ],
        },
    }


def _agent(
    ident: str, model_base: Callable[[], str], session: aiohttp.ClientSession
) -> AgentService:
    tag, system = _PROMPTS[ident]

    async def answer(messages: list[dict[str, Any]], turn: Turn) -> str:
        body = {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 48,
            "messages": [{"role": "system", "content": system}, *messages],
        }
        # The turn's traceparent, session and x-request-id go on: Plano ties this call to
        # the turn's trace and keeps the turn's id beside the call's own.
        headers = {"content-type": "application/json", **propagation_headers(turn)}
        url = model_base() + "/v1/chat/completions"
        async with session.post(url, data=orjson.dumps(body), headers=headers) as resp:
            data = orjson.loads(await resp.read())
        if resp.status >= 400:
            return f"[{tag}] the model failed: {data['error']['message']}"
        return f"[{tag}] {data['choices'][0]['message']['content']}"

    return AgentService(answer, name=ident)


@contextlib.asynccontextmanager
async def travel_agents(model_base: Callable[[], str]) -> AsyncIterator[dict[str, str]]:
    """The two agents on 127.0.0.1 (ports the system picks); their URLs by id.
    ``model_base``: Plano's model listener, read at each call (it starts after them)."""
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        urls: dict[str, str] = {}
        for ident in _PROMPTS:
            runner = web.AppRunner(_agent(ident, model_base, session).app(), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            urls[ident] = f"http://127.0.0.1:{port}"
        yield urls
