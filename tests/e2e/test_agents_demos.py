"""Plano's own demo configs for agent orchestration and filter chains
(tests/fixtures/plano_demos): they validate as they are, and run with stand-in agents and
filters (only ports, agent/filter URLs and the providers' base_url changed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from tests.e2e.agents_helpers import Agents, serve_agents
from tests.e2e.conftest import Plano, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

DEMOS = Path(__file__).parents[1] / "fixtures" / "plano_demos"


@pytest.mark.parametrize("name", ["travel_agents", "http_filter", "mcp_filter"])
def test_demo_configs_validate_unchanged(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "plano", "validate", str(DEMOS / f"{name}.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unsupported" not in done.stdout


@pytest.fixture(scope="module")
def agents() -> Iterator[Agents]:
    with serve_agents(free_port()) as a:
        yield a


def _adapt(name: str, sims: dict[str, SimServer], agents: Agents) -> tuple[dict[str, Any], int]:
    config = yaml.safe_load((DEMOS / f"{name}.yaml").read_text())
    for provider in config["model_providers"]:
        provider["base_url"] = sims["ok"].url
        provider["access_key"] = "$SIM_KEY"
    for agent in config["agents"]:
        agent["url"] = f"{agents.url}/{agent['id']}"
    for f in config.get("filters", []):
        f["url"] = f"{agents.url}/filters/{f['id']}"
    port = free_port()
    config["listeners"][0]["port"] = port
    return config, port


def _ask(url: str, text: str) -> Any:
    c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    return c.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )


@pytest.fixture(scope="module")
def travel(
    sims: dict[str, SimServer], agents: Agents, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config, port = _adapt("travel_agents", sims, agents)
    p: Plano = start_plano(config, tmp_path_factory.mktemp("travel"))
    agents.plano = p.url
    yield f"http://127.0.0.1:{port}"
    assert p.stop() == 0, p.output()
    # The vendor-hosted orchestrator is never called: said once, offline embeddings instead.
    assert p.output().count("vendor-hosted or not declared") == 1


def test_travel_demo_picks_agents_offline(travel: str) -> None:
    deadline = time.monotonic() + 90
    raw = _ask(travel, "What's the weather in Paris tomorrow?")
    while raw.headers["x-plano-chooser"] != "embedding" and time.monotonic() < deadline:
        time.sleep(0.2)  # the embedding model loads in the background at start-up
        raw = _ask(travel, "What's the weather in Paris tomorrow?")
    assert raw.headers["x-plano-chooser"] == "embedding"
    assert raw.headers["x-plano-agents"] == "weather_agent"
    flights = _ask(travel, "Are there direct flights from Seattle to Tokyo?")
    assert flights.headers["x-plano-agents"] == "flight_agent"
    assert flights.parse().choices[0].message.content.startswith("flight_agent:")


def test_http_filter_demo_runs_the_filter_chain(
    sims: dict[str, SimServer], agents: Agents, tmp_path: Path
) -> None:
    config, port = _adapt("http_filter", sims, agents)
    p = start_plano(config, tmp_path)
    try:
        answer = _ask(f"http://127.0.0.1:{port}", "what is RAG?").parse()
        assert answer.choices[0].message.content.startswith("rag_agent:")
        sent = agents.seen["rag_agent"][-1]["messages"][-1]["content"]
        assert sent == "what is RAG? [input_guards] [query_rewriter] [context_builder]"
    finally:
        assert p.stop() == 0, p.output()
