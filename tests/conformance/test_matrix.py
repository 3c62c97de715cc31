"""The conformance matrix: every capability of :data:`plano.wire.capabilities.CAPABILITIES`, for
every (client shape x upstream family) pair, through a real gateway against the simulated
providers. Each check looks at both ends: what the client got, and what the upstream was sent
(or, for usage, what the upstream itself reports for that request)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.conformance.clients import CLIENTS, Client, Outcome, Turn, call
from tests.conformance.harness import NAMES, Env, reported_usage, serve, usage_of

from plano.sim import SimOptions
from plano.wire.capabilities import (
    CAPABILITIES,
    CLIENT_SHAPES,
    EXPRESSED_BY,
    FAMILIES,
    LIMITS,
    matrix,
)

SYSTEM = "You are a terse assistant. Answer in one line."
IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAA"
    "BQABh6FO1AAAAABJRU5ErkJggg=="
)
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    # Cache reads/writes and reasoning tokens make every usage field non-zero somewhere.
    with serve(SimOptions(cached_tokens=3, cache_write_tokens=2, reasoning_tokens=5)) as e:
        yield e


def ask(
    env: Env,
    client: Client,
    family: str,
    turns: list[Turn],
    *,
    system: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    stream: bool = False,
    model: str | None = None,
) -> Outcome:
    body = client.body(model or NAMES[family], turns, system, tools or [], stream)
    r, parse = call(env.url, client, body)
    assert r.status_code == 200, r.text
    out = parse()
    if stream:
        assert out.ended and out.error is None, r.text
    return out


# ---------------------------------------------------------------- the upstream's side


def upstream_roles(family: str, body: dict[str, Any]) -> list[str]:
    if family == "openai":
        return [m["role"] for m in body["messages"] if m["role"] not in ("system", "developer")]
    if family == "anthropic":
        return [m["role"] for m in body["messages"]]
    if family == "gemini":
        return ["assistant" if c["role"] == "model" else c["role"] for c in body["contents"]]
    roles = []
    for item in body["input"]:
        role = item.get("role") or ("assistant" if item["type"] == "function_call" else "tool")
        if role not in ("system", "developer") and (not roles or roles[-1] != role):
            roles.append(role)
    return roles


def upstream_system(family: str, body: dict[str, Any]) -> str:
    if family == "openai":
        return str(body["messages"][0]["content"])
    if family == "anthropic":
        system = body["system"]
        return system if isinstance(system, str) else system[0]["text"]
    if family == "gemini":
        return str(body["systemInstruction"]["parts"][0]["text"])
    if body.get("instructions"):
        return str(body["instructions"])
    first = body["input"][0]
    assert first["role"] in ("system", "developer")
    content = first["content"]
    return content if isinstance(content, str) else content[0]["text"]


def upstream_image(family: str, body: dict[str, Any]) -> bool:
    text = str(body)
    marker = {
        "openai": "'image_url': {'url': 'data:image/png;base64,",
        "anthropic": "'type': 'base64', 'media_type': 'image/png'",
        "gemini": "'inlineData': {'mimeType': 'image/png'",
        "openai_responses": "'type': 'input_image', 'image_url': 'data:image/png;base64,",
    }[family]
    return marker in text


def upstream_result_paired(family: str, body: dict[str, Any], call_id: str) -> bool:
    text = str(body)
    marker = {
        "openai": f"'tool_call_id': '{call_id}'",
        "anthropic": f"'tool_use_id': '{call_id}'",
        "gemini": "'functionResponse': {'name': 'get_weather'",
        "openai_responses": f"'type': 'function_call_output', 'call_id': '{call_id}'",
    }[family]
    return marker in text


# ---------------------------------------------------------------- capabilities


USER = [Turn("user", "Hello there, how are you today?")]
WEATHER_Q = [Turn("user", "What is the weather in Paris?")]
TOOL_TURNS = [
    Turn("user", "What is the weather in Paris?"),
    Turn("assistant", "", calls=[("call_w1", "get_weather", {"location": "Paris"})]),
    Turn("tool", "14 degrees and cloudy", call_id="call_w1"),
]


def cap_text(env: Env, client: Client, family: str) -> None:
    out = ask(env, client, family, USER)
    assert out.text.startswith("Simulated reply") and out.finish == "stop" and not out.calls


def cap_system(env: Env, client: Client, family: str) -> None:
    ask(env, client, family, USER, system=SYSTEM)
    assert upstream_system(family, env.last_upstream().body) == SYSTEM


def cap_multi_turn(env: Env, client: Client, family: str) -> None:
    turns = [Turn("user", "Hi"), Turn("assistant", "Hello! How can I help?"), Turn("user", "Joke?")]
    out = ask(env, client, family, turns)
    assert out.text and upstream_roles(family, env.last_upstream().body) == [
        "user",
        "assistant",
        "user",
    ]


def cap_tools(env: Env, client: Client, family: str) -> None:
    out = ask(env, client, family, WEATHER_Q, tools=[WEATHER])
    assert out.calls == [("get_weather", {"location": "Paris"})]
    assert out.finish == "tool_calls"


def cap_tool_results(env: Env, client: Client, family: str) -> None:
    out = ask(env, client, family, TOOL_TURNS, tools=[WEATHER])
    assert "the tool returned" in out.text and out.finish == "stop"
    body = env.last_upstream().body
    assert upstream_result_paired(family, body, "call_w1")
    assert upstream_roles(family, body)[-2:] == (
        ["assistant", "user"] if family in ("anthropic", "gemini") else ["assistant", "tool"]
    )


def cap_parallel_tool_calls(env: Env, client: Client, family: str) -> None:
    turns = [Turn("user", "Weather and time in both Paris and Rome?")]
    out = ask(env, client, family, turns, tools=[WEATHER, TIME])
    assert [name for name, _ in out.calls] == ["get_weather", "get_time"]


def cap_images(env: Env, client: Client, family: str) -> None:
    out = ask(env, client, family, [Turn("user", "What is in this picture?", image=IMAGE)])
    assert out.text and upstream_image(family, env.last_upstream().body)


def cap_stream(env: Env, client: Client, family: str) -> None:
    whole = ask(env, client, family, USER)
    streamed = ask(env, client, family, USER, stream=True)
    assert streamed.text == whole.text and streamed.finish == "stop"


def cap_stream_tools(env: Env, client: Client, family: str) -> None:
    turns = [Turn("user", "Weather and time in both Paris and Rome?")]
    out = ask(env, client, family, turns, tools=[WEATHER, TIME], stream=True)
    assert out.calls == [("get_weather", {"location": "Paris"}), ("get_time", {"city": "Paris"})]
    assert out.finish == "tool_calls"


def cap_usage(env: Env, client: Client, family: str) -> None:
    for stream in (False, True):
        out = ask(env, client, family, WEATHER_Q, tools=[WEATHER], stream=stream)
        expected = reported_usage(family, usage_of(family, env.replay(env.last_upstream())))
        assert out.usage is not None
        got, want = list(out.usage), list(expected)
        if client.shape != "anthropic_messages":
            got[3] = want[3] = 0  # cache writes have no field in the OpenAI shapes
        assert got == want, f"stream={stream}"
        assert want[0] > 0 and want[1] > 0


def cap_errors(env: Env, client: Client, family: str) -> None:
    body = client.body(NAMES[family] + "-429", USER, None, [], False)
    r, _ = call(env.url, client, body)
    assert r.status_code == 429 and r.headers["retry-after"]
    assert client.error_type(r.json()) in ("rate_limit_error", "requests", "invalid_request_error")
    body = client.body(NAMES[family] + "-cut", USER, None, [], True)
    r, parse = call(env.url, client, body)
    assert r.status_code == 200
    out = parse()
    assert out.error and not out.ended, r.text


CASES: dict[str, Callable[[Env, Client, str], None]] = {
    name.removeprefix("cap_"): fn for name, fn in globals().items() if name.startswith("cap_")
}
PAIRS = [(shape, family) for shape in CLIENT_SHAPES for family in FAMILIES]


def test_every_capability_has_a_check() -> None:
    assert set(CASES) == set(CAPABILITIES)


@pytest.mark.parametrize("capability", CAPABILITIES)
@pytest.mark.parametrize(("shape", "family"), PAIRS)
def test_matrix(env: Env, shape: str, family: str, capability: str) -> None:
    assert matrix()[(shape, family)][capability] == "yes"
    CASES[capability](env, CLIENTS[shape], family)


# ---------------------------------------------------------------- what a pair cannot do


def _limited_request(client: Client, family: str, feature: str) -> dict[str, Any] | None:
    """A request of this client shape that uses ``feature``, where the shape can express it."""
    body = client.body(NAMES[family], USER, None, [], False)
    if feature == "image_url":
        url_image = [Turn("user", "What is this?", image=None)]
        body = client.body(NAMES[family], url_image, None, [], False)
        remote = "https://example.com/cat.png"
        if client.shape == "openai_chat":
            body["messages"][0]["content"] = [{"type": "image_url", "image_url": {"url": remote}}]
        elif client.shape == "anthropic_messages":
            src = {"type": "url", "url": remote}
            body["messages"][0]["content"] = [{"type": "image", "source": src}]
        else:
            body["input"][0]["content"] = [{"type": "input_image", "image_url": remote}]
        return body
    if feature == "tool_result_images" and client.shape != "openai_chat":
        body = client.body(NAMES[family], TOOL_TURNS, None, [WEATHER], False)
        if client.shape == "anthropic_messages":
            src = {"type": "base64", "media_type": "image/png", "data": IMAGE.split(",", 1)[1]}
            body["messages"][-1]["content"][0]["content"] = [{"type": "image", "source": src}]
        else:
            body["input"][-1]["output"] = [{"type": "input_image", "image_url": IMAGE}]
        return body
    if feature == "json_mode" and client.shape == "openai_chat":
        return {**body, "response_format": {"type": "json_object"}}
    if feature == "json_mode" and client.shape == "openai_responses":
        return {**body, "text": {"format": {"type": "json_object"}}}
    if feature == "stop_sequences" and client.shape == "openai_chat":
        return {**body, "stop": ["END"]}
    if feature == "stop_sequences" and client.shape == "anthropic_messages":
        return {**body, "stop_sequences": ["END"]}
    if client.shape == "openai_chat" and feature in ("multiple_choices", "logprobs", "audio"):
        extra = {
            "multiple_choices": {"n": 2},
            "logprobs": {"logprobs": True},
            "audio": {"modalities": ["text", "audio"]},
        }[feature]
        return {**body, **extra}
    return None


#: Every limit, from every client shape that can express the feature at all.
LIMITED = [
    (shape, family, feature)
    for feature, families in LIMITS.items()
    for family in families
    for shape, native in CLIENT_SHAPES.items()
    if native != family and _limited_request(CLIENTS[shape], family, feature) is not None
]


def test_limit_requests_cover_what_each_shape_can_express() -> None:
    expressible = {
        (shape, family, feature)
        for feature, families in LIMITS.items()
        for family in families
        for shape in EXPRESSED_BY[feature]
        if CLIENT_SHAPES[shape] != family
    }
    assert set(LIMITED) == expressible


@pytest.mark.parametrize(("shape", "family", "feature"), LIMITED)
def test_unsupported_is_a_clear_400(env: Env, shape: str, family: str, feature: str) -> None:
    client = CLIENTS[shape]
    body = _limited_request(client, family, feature)
    assert body is not None
    before = len(env.sim.requests)
    r, _ = call(env.url, client, body)
    assert r.status_code == 400, r.text
    assert LIMITS[feature][family] in r.text
    assert len(env.sim.requests) == before, "nothing may reach the upstream"


def test_opaque_content_is_refused_across_families(env: Env) -> None:
    client = CLIENTS["anthropic_messages"]
    body = client.body(NAMES["openai"], USER, None, [], False)
    body["messages"][0]["content"] = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    ]
    r, _ = call(env.url, client, body)
    assert r.status_code == 400 and "'document' content block" in r.json()["error"]["message"]
