"""Agent listeners end to end: `plano up` with stand-in agents (tests/e2e/agents_helpers.py)
that call Plano's model listener, answered by the simulated provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.e2e.agents_helpers import Agents, serve_agents
from tests.e2e.conftest import Plano, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DENY_SECRET = """package plano.agents_rpc

deny contains msg if {
	input.agent == "secret"
	msg := "nobody calls the secret agent"
}
"""


@pytest.fixture(scope="module")
def agents() -> Iterator[Agents]:
    with serve_agents(free_port()) as a:
        yield a


@pytest.fixture(scope="module")
def setup(
    sims: dict[str, SimServer], agents: Agents, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Plano, dict[str, str]]]:
    ports = {name: free_port() for name in ("seq", "par", "par2", "sum", "orch", "admin")}
    url = agents.url

    def agent(ident: str, path: str | None = None) -> dict[str, str]:
        return {"id": ident, "url": f"{url}/{path or ident}"}

    travel = [
        {"id": "weather", "description": "weather forecasts"},
        {"id": "flights", "description": "flights", "default": True},
    ]
    rules = [
        {"agents": ["weather", "flights"], "contains": ["trip"]},
        {"agents": ["weather"], "contains": ["weather"]},
    ]
    config: dict[str, Any] = {
        "version": "v0.4.0",
        "gateway": {"admin_port": ports["admin"]},
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": sims["ok"].url,
                "default": True,
            },
            {"model": "openai/orch-model", "access_key": "k", "base_url": f"{url}/orchestrator"},
        ],
        "overrides": {"agent_orchestration_model": "openai/orch-model"},
        "agents": [
            agent("weather"),
            agent("flights"),
            agent("broken"),
            agent("garbage"),
            agent("crash"),
            agent("slow"),
            agent("secret", "flights"),
            {"id": "down", "url": "http://127.0.0.1:9"},
        ],
        "policies": [{"name": "rpc", "rego": DENY_SECRET}],
        "listeners": [
            {"type": "model", "name": "llm", "port": 12000},
            {
                "type": "agent",
                "name": "seq",
                "port": ports["seq"],
                "router": "plano_orchestrator_v1",
                "agents": travel,
                "orchestration": {"chooser": "rules", "rules": rules, "agent_timeout": "2s"},
            },
            {
                "type": "agent",
                "name": "par",
                "port": ports["par"],
                "router": "plano_orchestrator_v1",
                "agents": travel,
                "orchestration": {
                    "chooser": "rules",
                    "rules": rules,
                    "mode": "parallel",
                    "fallback_agent": "flights",
                    "agent_timeout": "2s",
                },
            },
            {
                "type": "agent",
                "name": "par2",
                "port": ports["par2"],
                "agents": [*travel, {"id": "broken", "description": "fails"}],
                "orchestration": {
                    "chooser": "rules",
                    "rules": [{"agents": ["weather", "broken"], "contains": ["mixed"]}],
                    "mode": "parallel",
                },
            },
            {
                "type": "agent",
                "name": "sum",
                "port": ports["sum"],
                "agents": travel,
                "orchestration": {
                    "chooser": "rules",
                    "rules": rules,
                    "mode": "parallel",
                    "merge": "summarize",
                    "summarizer_model": "openai/gpt-4o-mini",
                },
            },
            {
                "type": "agent",
                "name": "orch",
                "port": ports["orch"],
                "router": "plano_orchestrator_v1",
                "agents": travel,
            },
        ],
    }
    p = start_plano(config, tmp_path_factory.mktemp("agents"))
    agents.plano = p.url
    urls = {k: f"http://127.0.0.1:{v}" for k, v in ports.items()}
    yield p, urls
    assert p.stop() == 0, p.output()


def client(url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", default_headers=headers or None)


def ask(url: str, text: str, **headers: str) -> Any:
    return client(url, **headers).chat.completions.with_raw_response.create(
        model="travel", messages=[{"role": "user", "content": text}]
    )


def test_choice_headers_and_own_path(setup: tuple[Plano, dict[str, str]], agents: Agents) -> None:
    _, urls = setup
    raw = ask(urls["seq"], "what is the weather in Paris", traceparent=TRACE)
    answer = raw.parse()
    assert answer.choices[0].message.content.startswith("weather: sunny")
    assert raw.headers["x-plano-agents"] == "weather"
    sent = agents.headers["weather"][-1]
    assert sent["x-arch-upstream"] == "weather"
    assert sent["x-arch-agent-listener-name"] == "seq"
    assert sent["traceparent"].split("-")[1] == TRACE.split("-")[1]  # the client's trace
    assert sent["traceparent"].split("-")[2] != TRACE.split("-")[2]  # a new span
    assert sent["x-request-id"] == raw.headers["x-request-id"]


def test_sequence_inserts_earlier_answers(
    setup: tuple[Plano, dict[str, str]], agents: Agents
) -> None:
    _, urls = setup
    answer = ask(urls["seq"], "plan my trip to Rome").parse()
    assert answer.choices[0].message.content == "flights: 2 messages; earlier=[weather]"
    last = agents.seen["flights"][-1]["messages"]
    assert last[0]["role"] == "assistant" and last[0]["name"] == "weather"


def test_sequence_streams_and_anthropic_client(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    stream = client(urls["seq"]).chat.completions.create(
        model="travel", stream=True, messages=[{"role": "user", "content": "plan my trip"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "flights: 2 messages; earlier=[weather]"
    claude = anthropic.Anthropic(base_url=urls["seq"], api_key="x")
    msg = claude.messages.create(
        model="travel", max_tokens=100, messages=[{"role": "user", "content": "weather?"}]
    )
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("weather: sunny")


def test_parallel_merges_and_streams(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    answer = ask(urls["par"], "plan my trip").parse()
    text = answer.choices[0].message.content
    assert text.startswith("[weather]\nweather: sunny")
    assert "[flights]\nflights: 1 messages; earlier=[]" in text  # not sequenced
    stream = client(urls["par"]).chat.completions.create(
        model="travel", stream=True, messages=[{"role": "user", "content": "plan my trip"}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_sessions_across_turns_and_admin(
    setup: tuple[Plano, dict[str, str]], agents: Agents
) -> None:
    _, urls = setup
    first = ask(urls["seq"], "hello flights", **{"x-plano-session-id": "s-42"})
    assert first.headers["x-plano-session-id"] == "s-42"
    ask(urls["seq"], "and tomorrow?", **{"x-plano-session-id": "s-42"})
    seen = agents.seen["flights"][-1]["messages"]
    assert [m["content"] for m in seen][:1] == ["hello flights"] and len(seen) == 3
    admin = urls["admin"] + "/plano/v1/sessions/s-42"
    got = httpx.get(admin).json()
    assert got["turns"] == 4 and got["messages"][1]["name"] == "flights"
    assert httpx.delete(admin).status_code == 200
    assert httpx.get(admin).status_code == 404


def test_rpc_with_policy(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    ok = httpx.post(urls["seq"] + "/agents/v1/flights/v1/chat/completions", json=body)
    assert ok.status_code == 200, ok.text
    assert ok.json()["choices"][0]["message"]["content"].startswith("flights:")
    denied = httpx.post(urls["seq"] + "/agents/v1/secret/v1/chat/completions", json=body)
    assert denied.status_code == 403 and "secret agent" in denied.json()["error"]["message"]
    header = httpx.post(
        urls["seq"] + "/v1/chat/completions", json=body, headers={"x-plano-agent": "secret"}
    )
    assert header.status_code == 403
    unknown = httpx.post(urls["seq"] + "/agents/v1/nobody/v1/chat/completions", json=body)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("agent", "status", "words"),
    [
        ("broken", 500, "agent exploded"),
        ("garbage", 502, "invalid JSON"),
        ("down", 502, ""),
        ("slow", 504, "time limit"),
    ],
)
def test_faults_in_the_clients_shape(
    setup: tuple[Plano, dict[str, str]], agent: str, status: int, words: str
) -> None:
    _, urls = setup
    c = client(urls["seq"], **{"x-plano-agent": agent})
    with pytest.raises(openai.APIStatusError) as info:
        c.with_options(max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == status
    assert words in str(info.value)
    claude = anthropic.Anthropic(
        base_url=urls["seq"], api_key="x", max_retries=0, default_headers={"x-plano-agent": agent}
    )
    with pytest.raises(anthropic.APIStatusError) as ainfo:
        claude.messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert ainfo.value.status_code == status


def test_crash_mid_stream_is_an_error_not_a_clean_end(
    setup: tuple[Plano, dict[str, str]],
) -> None:
    _, urls = setup
    c = client(urls["seq"], **{"x-plano-agent": "crash"}).with_options(max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in c.chat.completions.create(
            model="m", stream=True, messages=[{"role": "user", "content": "hi"}]
        ):
            pass


def test_parallel_fallback_agent_and_partial_failure(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    raw = ask(urls["par"], "hi", **{"x-plano-agent": "broken"})
    assert raw.parse().choices[0].message.content.startswith("flights:")
    assert raw.headers["x-plano-fallback-agent"] == "flights"


def test_llm_orchestrator_with_plano_prompt(
    setup: tuple[Plano, dict[str, str]], agents: Agents
) -> None:
    _, urls = setup
    raw = ask(urls["orch"], "Flights to Rome and the weather there")
    assert raw.headers["x-plano-chooser"] == "llm"
    assert raw.headers["x-plano-agents"] == "weather,flights"
    assert raw.parse().choices[0].message.content == "flights: 2 messages; earlier=[weather]"
    sent = agents.seen["orchestrator"][-1]
    assert sent["model"] == "orch-model" and sent["temperature"] == 0.0
    prompt = sent["messages"][0]["content"]
    assert '{"name": "weather", "description": "weather forecasts"}' in prompt
    assert '"content": "Flights to Rome and the weather there"' in prompt
    unknown = ask(urls["orch"], "nonsense please")
    assert unknown.headers["x-plano-chooser"] == "default"
    assert unknown.headers["x-plano-agents"] == "flights"


def test_failing_orchestrator_never_fails_the_turn(setup: tuple[Plano, dict[str, str]]) -> None:
    p, urls = setup
    for _ in range(2):
        raw = ask(urls["orch"], "explode: weather in Oslo?")
        assert raw.status_code == 200
        assert raw.headers["x-plano-chooser"] in ("embedding", "default")
    assert p.output().count("cannot be reached") == 1


def test_responses_client_and_anthropic_stream(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    answer = client(urls["seq"]).responses.create(model="travel", input="weather in Oslo?")
    assert answer.output_text.startswith("weather: sunny")
    claude = anthropic.Anthropic(base_url=urls["seq"], api_key="x")
    with claude.messages.stream(
        model="travel", max_tokens=100, messages=[{"role": "user", "content": "plan a trip"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "flights: 2 messages; earlier=[weather]"


def test_parallel_names_a_failed_agent_in_the_merged_answer(
    setup: tuple[Plano, dict[str, str]],
) -> None:
    _, urls = setup
    raw = ask(urls["par2"], "mixed bag")
    text = raw.parse().choices[0].message.content
    assert text.startswith("[weather]\nweather: sunny")
    assert "[broken]\n(the agent failed: agent exploded)" in text
    assert raw.headers["x-plano-failed-agents"] == "broken"


def test_parallel_summarized_by_a_model(setup: tuple[Plano, dict[str, str]]) -> None:
    _, urls = setup
    raw = ask(urls["sum"], "plan my trip")
    text = raw.parse().choices[0].message.content
    assert raw.headers["x-plano-agents"] == "weather,flights"
    assert text and not text.startswith("[weather]")  # the simulated model's own words
