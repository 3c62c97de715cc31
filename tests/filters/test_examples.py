"""examples/filters runs as docs/filters.md says: the config with its filter server, in front
of the simulated providers (their addresses swapped for free ports)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import yaml
from aiohttp import web
from tests.filters.standins import CHAT, call, chat, start_gateway, stream_text

from plano.sim import SimServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "filters"


def _filter_app() -> web.Application:
    spec = importlib.util.spec_from_file_location("http_filter", EXAMPLES / "http_filter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: web.Application = module.app()
    return app


async def test_the_filters_example_runs() -> None:
    runner = web.AppRunner(_filter_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    filters_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    text = (EXAMPLES / "config.yaml").read_text()
    async with SimServer() as sim:
        text = text.replace("http://127.0.0.1:9000", sim.url)
        text = text.replace("http://127.0.0.1:9100", filters_url)
        gateway, url = await start_gateway(yaml.safe_load(text))
        try:
            prompt = chat("darn, mail ann@example.com", stream=False)
            prompt["model"] = "openai/gpt-4o-mini"
            status, raw = await call(url, CHAT, prompt)
            assert status == 200, raw
            sent = orjson.dumps(sim.requests[-1].body).decode()
            assert "[email 1]" in sent and "ann@example.com" not in sent
            answer = orjson.loads(raw)["choices"][0]["message"]["content"]
            assert "ann@example.com" in answer and "d**n" in answer and "darn" not in answer
            status, raw = await call(url, CHAT, {**prompt, "stream": True})
            assert status == 200
            streamed = stream_text(raw)
            assert "ann@example.com" in streamed and "darn" not in streamed
            status, raw = await call(
                url,
                CHAT,
                {**prompt, "messages": [{"role": "user", "content": "a forbidden topic"}]},
            )
            assert status == 403
            assert "off limits" in orjson.loads(raw)["error"]["message"]
        finally:
            await gateway.cleanup()
            await runner.cleanup()
