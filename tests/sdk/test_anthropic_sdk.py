"""The official ``anthropic`` SDK through the gateway, against OpenAI-compatible, Anthropic,
Gemini and Responses upstreams: create, stream, tools, token counting and errors. Usage must be
what the upstream reported (each request is replayed straight to the simulator)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from tests.conformance.harness import NAMES, Env, reported_usage, serve, usage_of

from plano.sim import SimOptions

FAMILIES = ["openai", "anthropic", "gemini", "openai_responses"]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serve(SimOptions(cached_tokens=4, cache_write_tokens=3, reasoning_tokens=2)) as e:
        yield e


@pytest.fixture(scope="module")
def client(env: Env) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=env.url, api_key="client-key", max_retries=0) as c:
        yield c


def upstream(env: Env, family: str) -> tuple[int, int, int, int, int]:
    return reported_usage(family, usage_of(family, env.replay(env.last_upstream())))


def as_tuple(u: anthropic.types.Usage) -> tuple[int, int, int, int]:
    read = u.cache_read_input_tokens or 0
    write = u.cache_creation_input_tokens or 0
    return (u.input_tokens + read + write, u.output_tokens, read, write)


@pytest.mark.parametrize("family", FAMILIES)
def test_messages_create(env: Env, client: anthropic.Anthropic, family: str) -> None:
    msg = client.messages.create(
        model=NAMES[family],
        max_tokens=200,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hello there"}],
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("Simulated reply")
    assert msg.stop_reason == "end_turn"
    assert as_tuple(msg.usage) == upstream(env, family)[:4]


@pytest.mark.parametrize("family", FAMILIES)
def test_messages_stream(env: Env, client: anthropic.Anthropic, family: str) -> None:
    with client.messages.stream(
        model=NAMES[family], max_tokens=200, messages=[{"role": "user", "content": "Hello there"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Simulated reply") and final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert as_tuple(final.usage) == upstream(env, family)[:4]


@pytest.mark.parametrize("family", FAMILIES)
def test_tools_and_tool_results(env: Env, client: anthropic.Anthropic, family: str) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.messages.create(
        model=NAMES[family],
        max_tokens=200,
        tools=[WEATHER],
        messages=[question],  # type: ignore[list-item]
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"location": "Paris"}
    # Hand the whole assistant turn back (as Claude Code does) with the result.
    second = client.messages.create(
        model=NAMES[family],
        max_tokens=200,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "14C, cloudy"}
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "the tool returned" in second.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_tool_use_input_assembles(
    env: Env, client: anthropic.Anthropic, family: str
) -> None:
    with client.messages.stream(
        model=NAMES[family],
        max_tokens=200,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    calls = [b for b in final.content if b.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [("get_weather", {"location": "Paris"})]
    assert final.stop_reason == "tool_use"
    assert as_tuple(final.usage) == upstream(env, family)[:4]


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-5",
        system="You are a scientist",
        messages=[{"role": "user", "content": "Hello, Claude"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert counted.input_tokens > 10


def test_errors_are_anthropic_errors(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as exc:
        client.messages.create(
            model=NAMES["gemini"] + "-429",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert exc.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_stream_cut_raises(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model=NAMES["openai"] + "-cut",
            max_tokens=100,
            messages=[{"role": "user", "content": "Hello there"}],
        ) as stream,
    ):
        stream.get_final_message()
