"""The official ``openai`` SDK through the gateway against every upstream family:
``chat.completions.create`` and ``responses.create`` (stream and not), conversation state with
``previous_response_id``, ``responses.retrieve`` / ``delete`` and ``store: false``. Usage must
be what the upstream reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from tests.conformance.harness import NAMES, Env, reported_usage, serve, usage_of

from plano.sim import SimOptions

FAMILIES = ["openai", "anthropic", "gemini", "openai_responses"]
CHAT_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
RESP_TOOL: Any = {"type": "function", **CHAT_TOOL["function"]}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serve(SimOptions(cached_tokens=4, cache_write_tokens=3, reasoning_tokens=2)) as e:
        yield e


@pytest.fixture(scope="module")
def client(env: Env) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=env.url + "/v1", api_key="client-key", max_retries=0) as c:
        yield c


def upstream(env: Env, family: str) -> tuple[int, int, int, int]:
    """(input, output, cached, reasoning) as the upstream reported them."""
    u = reported_usage(family, usage_of(family, env.replay(env.last_upstream())))
    return (u[0], u[1], u[2], u[4])


def chat_usage(u: Any) -> tuple[int, int, int, int]:
    return (
        u.prompt_tokens,
        u.completion_tokens,
        u.prompt_tokens_details.cached_tokens,
        u.completion_tokens_details.reasoning_tokens,
    )


def resp_usage(u: Any) -> tuple[int, int, int, int]:
    return (
        u.input_tokens,
        u.output_tokens,
        u.input_tokens_details.cached_tokens,
        u.output_tokens_details.reasoning_tokens,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_completions(env: Env, client: openai.OpenAI, family: str) -> None:
    resp = client.chat.completions.create(
        model=NAMES[family],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    assert resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert chat_usage(resp.usage) == upstream(env, family)


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_completions_stream_tools(env: Env, client: openai.OpenAI, family: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=NAMES[family],
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=[CHAT_TOOL],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    args = "".join(
        tc.function.arguments or ""  # type: ignore[union-attr]
        for c in chunks
        if c.choices
        for tc in c.choices[0].delta.tool_calls or ()
    )
    assert json.loads(args) == {"location": "Paris"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert "tool_calls" in finishes
    assert chunks[-1].usage is not None
    assert chat_usage(chunks[-1].usage) == upstream(env, family)


@pytest.mark.parametrize("family", FAMILIES)
def test_responses_create(env: Env, client: openai.OpenAI, family: str) -> None:
    resp = client.responses.create(
        model=NAMES[family], instructions="Be brief.", input="Hello there", max_output_tokens=100
    )
    assert resp.id.startswith("resp_") and resp.status == "completed"
    assert resp.output_text.startswith("Simulated reply")
    assert resp_usage(resp.usage) == upstream(env, family)


@pytest.mark.parametrize("family", FAMILIES)
def test_responses_stream(env: Env, client: openai.OpenAI, family: str) -> None:
    with client.responses.stream(
        model=NAMES[family], input="What is the weather in Paris?", tools=[RESP_TOOL]
    ) as stream:
        final = stream.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"location": "Paris"})
    ]
    assert resp_usage(final.usage) == upstream(env, family)
    events = list(client.responses.create(model=NAMES[family], input="Hello there", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == events[-1].response.output_text  # type: ignore[union-attr]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stream", [False, True])
def test_previous_response_id_continues_the_conversation(
    env: Env, client: openai.OpenAI, family: str, stream: bool
) -> None:
    first = client.responses.create(
        model=NAMES[family], input="What is the weather in Paris?", tools=[RESP_TOOL]
    )
    call = next(o for o in first.output if o.type == "function_call")
    # The follow-up names only the previous response and sends the tool result.
    follow = {
        "model": NAMES[family],
        "previous_response_id": first.id,
        "input": [{"type": "function_call_output", "call_id": call.call_id, "output": "14C"}],
        "tools": [RESP_TOOL],
    }
    if stream:
        with client.responses.stream(**follow) as s:
            second = s.get_final_response()
    else:
        second = client.responses.create(**follow)
    assert "the tool returned" in second.output_text
    sent = env.last_upstream().body
    text = json.dumps(sent)
    assert "previous_response_id" not in sent and "What is the weather in Paris?" in text
    # Gemini has no call ids: the result is matched to the call by the function's name.
    assert (
        call.call_id if family != "gemini" else '"functionResponse": {"name": "get_weather"'
    ) in text
    # A third turn chains through both.
    third = client.responses.create(
        model=NAMES[family], previous_response_id=second.id, input="Thanks!"
    )
    assert third.output_text
    got = client.responses.retrieve(third.id)
    assert got.id == third.id and got.previous_response_id == second.id


def test_delete_and_store_false(client: openai.OpenAI) -> None:
    kept = client.responses.create(model=NAMES["openai"], input="Hello")
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(kept.id)
    unstored = client.responses.create(model=NAMES["anthropic"], input="Hello", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(
            model=NAMES["anthropic"], input="again", previous_response_id=unstored.id
        )
    assert "not found" in str(exc.value)


def test_responses_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model=NAMES["anthropic"] + "-429", input="hi")
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(
            model=NAMES["anthropic"], input="hi", tools=[{"type": "web_search"}]
        )
    assert "hosted tool 'web_search'" in str(exc.value)
