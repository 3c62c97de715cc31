"""The official `openai` SDK through `plano up`: non-stream, stream, tools, errors."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import openai
import pytest
from tests.e2e.conftest import Plano

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(plano: Plano) -> openai.OpenAI:
    return openai.OpenAI(base_url=plano.url + "/v1", api_key="client-key", max_retries=0)


USER = [{"role": "user", "content": "Hello there"}]


def test_non_stream_reports_model_usage_and_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    resp = raw.parse()
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    assert raw.headers["x-plano-provider"] == "openai"
    assert raw.headers["x-plano-model"] == "gpt-4o-mini"
    assert raw.headers["x-request-id"].startswith("req_")
    assert float(raw.headers["x-plano-overhead-ms"]) >= 0


def test_alias_and_provider_prefix_resolve(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="fast", messages=USER)
    assert raw.headers["x-plano-provider"] == "groq"
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=USER
    )
    assert raw.headers["x-plano-model"] == "gpt-4o-mini"


def test_stream_relays_chunks_and_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="fast",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) > 10
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"


def test_stream_without_include_usage_gets_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="fast", messages=USER, stream=True))
    assert all(c.choices for c in chunks), "a usage-only chunk leaked to a client that did not ask"


def test_usage_is_accounted_even_when_client_did_not_ask(
    plano: Plano, client: openai.OpenAI
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="fast", messages=USER, stream=True)
    list(raw.parse())
    rid = raw.headers["x-request-id"]
    for _ in range(50):
        r = httpx.get(f"{plano.url}/plano/v1/requests/{rid}")
        if r.status_code == 200:
            break
    rec = r.json()
    assert rec["output_tokens"] > 0 and rec["usage_estimated"] is False
    assert rec["cost_usd"] is not None


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]


def test_tool_call_non_stream(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert "location" in json.loads(call.function.arguments)
    assert resp.choices[0].finish_reason == "tool_calls"


def test_tool_call_stream_arguments_assemble(client: openai.OpenAI) -> None:
    args = ""
    name = None
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    ):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = tc.function.name or name  # type: ignore[union-attr]
            args += tc.function.arguments or ""  # type: ignore[union-attr]
    assert name == "get_weather"
    assert "location" in json.loads(args)


def test_unknown_model_is_404_with_suggestion(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="gpt-4o-mimi", messages=USER)
    assert "gpt-4o-mini" in str(exc.value)


def test_wrong_type_is_400_naming_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="fast", messages=USER, max_tokens="ten")  # type: ignore[arg-type]
    assert "max_tokens" in str(exc.value)


def test_malformed_json_is_400(plano: Plano) -> None:
    r = httpx.post(
        f"{plano.url}/v1/chat/completions",
        content=b'{"model": "fast", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


def test_oversized_body_is_413(plano: Plano) -> None:
    big = "x" * (11 * 1024 * 1024)
    r = httpx.post(
        f"{plano.url}/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": big}]},
    )
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]


def test_upstream_429_passes_on_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="mistral-small-latest", messages=USER)
    assert exc.value.response.headers["retry-after"] == "7"


def test_connection_refused_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="together_ai/dead", messages=USER)
    assert exc.value.status_code == 502
    assert "127.0.0.1" not in str(exc.value)


def test_stream_cut_mid_answer_raises_not_clean_end(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="deepseek-chat", messages=USER, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_models_lists_configured_names(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"openai/gpt-4o-mini", "fast", "groq/llama-3.3-70b-versatile"} <= ids


def test_secret_never_in_logs_or_errors(plano: Plano, client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="together_ai/dead", messages=USER)
    assert "sk-sim-secret-123" not in plano.output()


def test_healthz(plano: Plano) -> None:
    r = httpx.get(f"{plano.url}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_a_repeated_client_request_id_gives_two_records_and_exact_totals(
    plano: Plano, client: openai.OpenAI
) -> None:
    """The client's x-request-id is echoed, never the usage log's key: repeating it neither
    drops the second request's usage nor lets it go unbilled."""
    session = "dup-rid-session"
    headers = {"x-request-id": "my-dup-id", "x-plano-session-id": session}
    raws = [
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER, extra_headers=headers
        )
        for _ in range(2)
    ]
    assert [r.headers["x-request-id"] for r in raws] == ["my-dup-id", "my-dup-id"]
    ours = [r.headers["x-plano-request-id"] for r in raws]
    assert len(set(ours)) == 2 and all(o.startswith("req_") for o in ours)
    tokens = [r.parse().usage for r in raws]
    records = []
    for rid in ours:
        for _ in range(50):
            r = httpx.get(f"{plano.url}/plano/v1/requests/{rid}")
            if r.status_code == 200:
                break
        assert r.status_code == 200, r.text
        records.append(r.json())
    assert [rec["client_request_id"] for rec in records] == ["my-dup-id", "my-dup-id"]
    totals = httpx.get(f"{plano.url}/plano/v1/usage?session={session}").json()["totals"]
    assert totals["requests"] == 2
    assert totals["input_tokens"] == sum(u.prompt_tokens for u in tokens if u)
    assert totals["output_tokens"] == sum(u.completion_tokens for u in tokens if u)
    cost = sum(Decimal(rec["cost_usd"]) for rec in records)
    assert cost > 0 and Decimal(totals["cost_usd"]) == cost
    # By the client's id: its newest record.
    newest = httpx.get(f"{plano.url}/plano/v1/requests/my-dup-id").json()
    assert newest["request_id"] == ours[1]
