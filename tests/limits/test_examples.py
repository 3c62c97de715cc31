"""examples/limits runs as docs/budgets.md says, in front of the simulated providers (their
address swapped for a free port)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import yaml
from tests.filters.standins import CHAT, start_gateway

from plano.sim import SimServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "limits" / "config.yaml"


async def post(url: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.post(url + CHAT, json=body, headers=headers) as r:
        await r.read()
        return r.status, dict(r.headers)


def chat(model: str, text: str = "hi") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


async def test_the_limits_example_runs() -> None:
    text = EXAMPLE.read_text()
    async with SimServer() as sim:
        runner, url = await start_gateway(
            yaml.safe_load(text.replace("http://127.0.0.1:9000", sim.url))
        )
        try:
            # The session's budget cannot afford gpt-4o's worst case: gpt-4o-mini answers.
            status, h = await post(url, chat("openai/gpt-4o"), **{"x-plano-session-id": "s1"})
            assert status == 200 and h["x-plano-model"] == "gpt-4o-mini"
            assert sim.requests[-1].body["max_tokens"] == 256  # default_max_tokens, sent
            # 30 requests a minute per session.
            for _ in range(29):
                status, h = await post(url, chat("gpt-4o-mini"), **{"x-plano-session-id": "s1"})
                assert status == 200
            assert h["x-ratelimit-remaining-requests"] == "0"
            status, h = await post(url, chat("gpt-4o-mini"), **{"x-plano-session-id": "s1"})
            assert status == 429 and int(h["Retry-After"]) > 0
            # Plano's ratelimits: 2,000 input tokens an hour per x-user, with the selector.
            long = chat("gpt-4o-mini", "word " * 1200)
            sel = {"x-arch-ratelimit-selector": "x-user"}
            assert (await post(url, long, **sel, **{"x-user": "ann"}))[0] == 200
            assert (await post(url, long, **sel, **{"x-user": "ann"}))[0] == 429
            assert (await post(url, long, **sel, **{"x-user": "bob"}))[0] == 200
            assert (await post(url, long, **{"x-user": "ann"}))[0] == 200  # no selector
        finally:
            await runner.cleanup()
