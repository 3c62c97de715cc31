"""Tracing across an agent hop, end to end: a client (openai SDK, its own ``traceparent``) asks
an agent listener; the rules chooser sends the turn to a stand-in agent that calls Plano's
model listener with the openai SDK, carrying the turn's ``traceparent`` (plano.sdk); that
request runs a remote input filter and a pool whose first deployment fails. Every span lands
in a real OTLP receiver as one trace: one tree under the client's span."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web
from tests.e2e.agents_helpers import Agents, serve_agents
from tests.e2e.conftest import SIM_KEY, free_port, start_plano
from tests.e2e.test_tracing import EchoFilter, _wait
from tests.observe.otlp_receiver import GrpcReceiver

from plano.sdk import propagation_headers
from plano.sdk.context import current_turn, turn_from_headers
from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e

CLIENT_TRACE = "5ce0e9a56015fec5aadfa328ae398115"
CLIENT_SPAN = "1a2b3c4d5e6f7081"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


class TracedAgents(Agents):
    """The stand-in agents, with a ``planner`` that asks Plano's model listener carrying the
    turn's trace (plano.sdk's propagation headers: a child of the hop's ``traceparent``)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = current_turn.set(turn_from_headers(request.headers))
        try:
            return await super().handle(request)
        finally:
            current_turn.reset(token)

    async def think(self, agent: str, body: dict[str, Any]) -> str:
        if agent != "planner":
            return await super().think(agent, body)
        headers = propagation_headers()
        self.sent.append(headers)
        client = openai.AsyncOpenAI(
            base_url=self.plano + "/v1", api_key="sk-agent", max_retries=0, default_headers=headers
        )
        try:
            answer = await client.chat.completions.create(model="chat", messages=body["messages"])
        finally:
            await client.close()
        return f"planner: {answer.choices[0].message.content}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    echo = EchoFilter()
    agent_port = free_port()
    with (
        SimServer.in_thread(SimOptions(name="good")) as good,
        SimServer.in_thread(SimOptions(name="bad", fault="500")) as bad,
        GrpcReceiver() as rx,
        serve_agents(free_port(), TracedAgents()) as agents,
    ):

        def entry(name: str, sim: SimServer) -> dict[str, Any]:
            return {
                "model": "openai/gpt-4o-mini",
                "name": name,
                "access_key": "$SIM_KEY",
                "base_url": sim.url,
            }

        config = {
            "version": "v0.4.0",
            "listeners": [
                {"type": "model", "name": "llm", "port": 12000, "input_filters": ["echo"]},
                {
                    "type": "agent",
                    "name": "desk",
                    "port": agent_port,
                    "agents": [{"id": "planner", "description": "plans", "default": True}],
                    "orchestration": {
                        "chooser": "rules",
                        "rules": [{"agents": ["planner"], "contains": ["plan"]}],
                    },
                },
            ],
            "agents": [{"id": "planner", "url": f"{agents.url}/planner"}],
            "filters": [{"id": "echo", "type": "http", "url": echo.url}],
            "model_providers": [entry("primary", good), entry("secondary", bad)],
            # round robin from the failing one: the agent's one call falls back once
            "model_pools": {
                "chat": {"strategy": "round_robin", "deployments": ["secondary", "primary"]}
            },
            "fallback": {"backoff": {"initial": "10ms", "max": "20ms"}},
            "tracing": {
                "random_sampling": 100,
                "opentracing_grpc_endpoint": rx.url,
                "export_interval": "100ms",
            },
        }
        p = start_plano(config, tmp_path_factory.mktemp("tracing_agents"))
        agents.plano = p.url
        try:
            yield {
                "plano": p,
                "rx": rx,
                "echo": echo,
                "agents": agents,
                "agent_url": f"http://127.0.0.1:{agent_port}",
            }
        finally:
            code = p.stop()
            echo.close()
            assert code == 0, p.output()


@pytest.fixture(scope="module")
def asked(world: dict[str, Any]) -> dict[str, Any]:
    client = openai.OpenAI(
        base_url=world["agent_url"] + "/v1",
        api_key="client-key",
        max_retries=0,
        default_headers={"traceparent": TRACEPARENT},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="desk", messages=[{"role": "user", "content": "plan my week"}]
    )
    assert raw.headers["x-plano-agents"] == "planner"
    assert (raw.parse().choices[0].message.content or "").startswith("planner: ")
    return {"headers": dict(raw.headers)}


def _span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


def test_one_trace_across_the_agent_hop(world: dict[str, Any], asked: dict[str, Any]) -> None:
    # agent listener request, its hop; model listener request, filter, routing, 2 attempts
    _wait(lambda: world["rx"].got.of(CLIENT_TRACE), 7)
    time.sleep(0.5)  # five export intervals: a stray eighth span would be here by now
    spans = world["rx"].got.of(CLIENT_TRACE)
    names = [(s["service"], s["name"]) for s in spans]
    assert len(spans) == 7, names  # no bookkeeping spans (the agent answer's capture)
    assert {s["trace_id"] for s in spans} == {CLIENT_TRACE}, names
    assert len({s["span_id"] for s in spans}) == len(spans), names
    # The agent's own call is its span, not Plano's: the stand-in recorded the traceparent it
    # got (naming Plano's hop span) and the one it sent (its own span, a child of that).
    (received,) = world["agents"].headers["planner"]
    (sent,) = world["agents"].sent
    assert received["traceparent"].split("-")[1] == CLIENT_TRACE
    assert sent["traceparent"].split("-")[1] == CLIENT_TRACE
    agent_own = _span_id(sent["traceparent"])
    parent = {s["span_id"]: s["parent_id"] for s in spans}
    parent[agent_own] = _span_id(received["traceparent"])

    inbound = sorted(
        (s for s in spans if s["service"] == "plano(inbound)"), key=lambda s: s["start_ns"]
    )
    assert len(inbound) == 2, names
    agent_req, model_req = inbound
    assert agent_req["parent_id"] == CLIENT_SPAN  # the client's trace, continued
    assert agent_req["kind"] == 2 and agent_req["attributes"]["plano.listener"] == "desk"
    assert agent_req["attributes"]["plano.route.name"] == "planner"
    (hop,) = [s for s in spans if s["service"] == "plano(agent)"]
    assert hop["name"] == "planner /v1/chat/completions" and hop["kind"] == 3
    assert hop["parent_id"] == agent_req["span_id"] and hop["attributes"]["agent_id"] == "planner"
    assert _span_id(received["traceparent"]) == hop["span_id"]  # the agent got the hop's span
    assert model_req["parent_id"] == agent_own
    assert model_req["name"] == "POST /v1/chat/completions"
    assert model_req["attributes"]["plano.attempts"] == 2

    (flt,) = [s for s in spans if s["service"] == "plano(filter)"]
    assert flt["name"] == "execute_raw_filter (echo) on_request"
    (routing,) = [s for s in spans if s["service"] == "plano(routing)"]
    failed, answered = sorted(
        (s for s in spans if s["service"] == "plano(llm)"), key=lambda s: s["start_ns"]
    )
    for s in (flt, routing, failed, answered):
        assert s["parent_id"] == model_req["span_id"], s
    assert failed["status"] == 2 and failed["attributes"]["plano.deployment"] == "secondary"
    assert answered["status"] == 1 and answered["attributes"]["plano.deployment"] == "primary"
    assert answered["attributes"]["plano.fallback"] is True

    # one tree: every span reaches the client's span through its parents
    for s in spans:
        seen, node = set(), s["span_id"]
        while node != CLIENT_SPAN:
            assert node in parent and node not in seen, (s["name"], node)
            seen.add(node)
            node = parent[node]
    # nested in time as in the tree
    assert agent_req["start_ns"] <= hop["start_ns"] <= model_req["start_ns"]
    assert model_req["end_ns"] <= hop["end_ns"] <= agent_req["end_ns"]
    assert SIM_KEY.encode() not in repr(spans).encode() and "client-key" not in repr(spans)
