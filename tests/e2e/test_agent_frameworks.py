"""The framework examples (LangGraph, LlamaIndex, OpenAI Agents SDK) as agent services against
the simulated provider. Each needs its framework, an optional extra
(examples/agents/frameworks/requirements-*.txt). An example runs with this interpreter, or the
one ``$PLANO_<NAME>_PYTHON`` names (LlamaIndex pins openai<3, so it lives in its own
environment); it is skipped, saying why, when the framework is not installed there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.e2e.conftest import free_port

from plano.sim import SimOptions, SimServer

FRAMEWORKS = Path(__file__).resolve().parents[2] / "examples" / "agents" / "frameworks"
CASES = [
    ("langgraph_agent.py", ("langgraph", "langchain_openai")),
    ("llamaindex_agent.py", ("llama_index.core", "llama_index.llms.openai_like")),
    ("openai_agents_agent.py", ("agents",)),
]


def _python(script: str) -> str:
    name = script.removesuffix("_agent.py").upper()
    return os.environ.get(f"PLANO_{name}_PYTHON") or sys.executable


def _missing(python: str, modules: tuple[str, ...]) -> list[str]:
    probe = "import importlib.util as u, sys\n" + "".join(
        f"print({m!r}) if u.find_spec({m.split('.')[0]!r}) is None or "
        f"u.find_spec({m!r}) is None else None\n"
        for m in modules
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.split()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as server:
        yield server


@pytest.mark.parametrize(("script", "modules"), CASES, ids=[c[0] for c in CASES])
def test_framework_agent_answers_through_the_sdk(
    sim: SimServer, script: str, modules: tuple[str, ...]
) -> None:
    python = _python(script)
    missing = _missing(python, modules)
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed for {python} (pip install -r "
            f"examples/agents/frameworks/requirements-*.txt there, or point "
            f"PLANO_{script.removesuffix('_agent.py').upper()}_PYTHON at an environment "
            "that has it)"
        )
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PLANO_URL": sim.url}
    proc = subprocess.Popen([python, script], cwd=FRAMEWORKS, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x")
        answer = client.chat.completions.create(
            model="agent", messages=[{"role": "user", "content": "Plan a trip to Rome"}]
        )
        assert "Simulated reply" in (answer.choices[0].message.content or "")
    finally:
        proc.terminate()
        proc.wait(10)


PROBE = r"""
import asyncio, json, os, sys
from aiohttp import web
from aiohttp.test_utils import TestServer

seen = []


async def chat(request):
    seen.append({k.lower(): v for k, v in request.headers.items()})
    if (await request.json()).get("stream"):
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for delta, finish in (({"role": "assistant", "content": "hello"}, None), ({}, "stop")):
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp
    return web.json_response({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                     "finish_reason": "stop"}],
    })


async def main():
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = TestServer(app)
    await server.start_server()
    os.environ["PLANO_URL"] = str(server.make_url("")).rstrip("/")
    sys.path.insert(0, ".")
    from plano.sdk import adapters
    from plano.sdk.context import current_turn, turn_from_headers
    name = sys.argv[1]
    module = __import__(name)
    handler = {
        "langgraph_agent": lambda: adapters.from_langgraph(module.app),
        "llamaindex_agent": lambda: adapters.from_llamaindex(module.agent),
        "openai_agents_agent": lambda: adapters.from_openai_agents(module.agent),
    }[name]()
    turn = turn_from_headers({"traceparent": sys.argv[2], "x-request-id": "r-1",
                              "x-plano-session-id": "s-1"})
    current_turn.set(turn)
    answer = await handler([{"role": "user", "content": "hi"}], turn)
    print(json.dumps({"answer": answer, "headers": seen[0]}))
    await server.close()


asyncio.run(main())
"""
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(("script", "modules"), CASES, ids=[c[0] for c in CASES])
def test_framework_calls_carry_the_turns_trace_and_ids(
    script: str, modules: tuple[str, ...]
) -> None:
    python = _python(script)
    missing = _missing(python, modules)
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed for {python}")
    done = subprocess.run(
        [python, "-c", PROBE, script.removesuffix(".py"), PARENT],
        cwd=FRAMEWORKS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["answer"] == "hello"
    sent = out["headers"]
    assert sent["traceparent"].split("-")[1] == PARENT.split("-")[1]
    assert sent["traceparent"].split("-")[2] != PARENT.split("-")[2]
    assert sent["x-request-id"] == "r-1" and sent["x-plano-session-id"] == "s-1"
