"""What is measured: scenarios, request bodies, gateway configs (pure data and text)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from bench.agent import agent_body

__all__ = [
    "SCENARIOS",
    "Scenario",
    "bare_config",
    "filter_config",
    "heavy_config",
    "litellm_config",
    "quiet_config",
    "realistic_config",
    "request_body",
    "scenario_body",
]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    #: Which processes serve it: core, lat20, realistic, peers, workers, heavy.
    group: str
    concurrency: int
    stream: bool
    #: ``wrk`` (throughput and whole-answer latency) or ``ttft`` (the dedicated stream client).
    tool: str
    targets: tuple[str, ...] = ("direct", "plano")
    #: The request body: ``small`` (:func:`request_body`) or ``agent`` (:func:`agent_body`).
    body: str = "small"


_PEERS = ("direct", "plano", "litellm", "portkey")
#: ``floor``: a bare aiohttp relay (bench/floor.py), the least an aiohttp gateway can cost.
_CORE = ("direct", "floor", "plano")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("json-c1", "Non-streaming JSON, concurrency 1", "core", 1, False, "wrk", _CORE),
    Scenario("json-c50", "Non-streaming JSON, concurrency 50", "core", 50, False, "wrk", _CORE),
    Scenario("json-c200", "Non-streaming JSON, concurrency 200", "core", 200, False, "wrk", _CORE),
    Scenario(
        "sse-c50", "Streaming SSE, concurrency 50 (whole stream)", "core", 50, True, "wrk", _CORE
    ),
    Scenario(
        "ttft-c1", "Streaming, time to first token, concurrency 1", "core", 1, True, "ttft", _CORE
    ),
    Scenario(
        "sse-filter-c50",
        "Streaming SSE, concurrency 50, with one stream filter (regex_redact, restore on)",
        "core",
        50,
        True,
        "wrk",
        ("direct", "plano", "plano-filter"),
    ),
    Scenario(
        "ttft-c50",
        "Streaming, time to first token, concurrency 50",
        "core",
        50,
        True,
        "ttft",
        _CORE,
    ),
    Scenario("lat20-json-c1", "20 ms upstream, JSON, concurrency 1", "lat20", 1, False, "wrk"),
    Scenario("lat20-json-c50", "20 ms upstream, JSON, concurrency 50", "lat20", 50, False, "wrk"),
    Scenario(
        "lat20-ttft-c1", "20 ms upstream, stream TTFT, concurrency 1", "lat20", 1, True, "ttft"
    ),
    Scenario(
        "realistic-json-c1",
        "Config variants, JSON, concurrency 1",
        "realistic",
        1,
        False,
        "wrk",
        ("direct", "plano", "plano-realistic", "plano-no-access-log"),
    ),
    Scenario(
        "realistic-json-c50",
        "Config variants, JSON, concurrency 50",
        "realistic",
        50,
        False,
        "wrk",
        ("direct", "plano", "plano-realistic", "plano-no-access-log"),
    ),
    Scenario("peers-json-c1", "Peers, JSON, concurrency 1", "peers", 1, False, "wrk", _PEERS),
    Scenario("peers-json-c50", "Peers, JSON, concurrency 50", "peers", 50, False, "wrk", _PEERS),
    Scenario("peers-sse-c50", "Peers, SSE, concurrency 50", "peers", 50, True, "wrk", _PEERS),
    Scenario(
        "big-c1",
        "Agent request (~178 KB prompt), JSON, concurrency 1",
        "heavy",
        1,
        False,
        "wrk",
        _CORE,
        body="agent",
    ),
    Scenario(
        "big-c50",
        "Agent request (~178 KB prompt), JSON, concurrency 50",
        "heavy",
        50,
        False,
        "wrk",
        _CORE,
        body="agent",
    ),
    Scenario(
        "workers-json-c200",
        "Worker processes (unpinned), JSON, concurrency 200",
        "workers",
        200,
        False,
        "wrk",
        ("direct", "plano-w1", "plano-w2"),
    ),
)

_SYSTEM = "You are a concise assistant. Answer in plain text."
_USER = "Explain in two sentences why a connection pool lowers the latency of HTTP calls."


def request_body(model: str, stream: bool) -> bytes:
    """A small, realistic chat request (two messages, max_tokens)."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": _USER},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def scenario_body(model: str, sc: Scenario) -> bytes:
    """The request body a scenario sends."""
    if sc.body == "agent":
        return agent_body(model, sc.stream)
    return request_body(model, sc.stream)


def _listener(port: int) -> str:
    return (
        "version: v0.4.0\n"
        "listeners:\n"
        "  - type: model\n"
        "    name: llm\n"
        "    address: 127.0.0.1\n"
        f"    port: {port}\n"
        "    timeout: 300s\n"
    )


def bare_config(port: int, upstream: int) -> str:
    """One provider, no aliases: the least the gateway can do (accounting is always on)."""
    return (
        _listener(port)
        + "model_providers:\n"
        + "  - model: openai/gpt-4o-mini\n"
        + "    access_key: sk-bench\n"
        + f"    base_url: http://127.0.0.1:{upstream}/v1\n"
        + "    default: true\n"
    )


def heavy_config(port: int, upstream: int, answer_bytes: int) -> str:
    """The stall probe's gateway: the bare config with bodies up to 32 MiB, plus two models.
    ``long-context`` declares a 4M-token window, so that 10 MB prompts are relayed (to
    ``gpt-4o-mini`` they are refused as too long); ``no-usage`` streams ``answer_bytes`` of
    answer from a provider that reports no usage (the gateway must count the tokens itself)."""
    big = f"answer_bytes={answer_bytes}/usage=off"
    return (
        bare_config(port, upstream)
        + "  - model: openai/long-context\n"
        + "    access_key: sk-bench\n"
        + f"    base_url: http://127.0.0.1:{upstream}/v1\n"
        + "  - model: openai/no-usage\n"
        + "    access_key: sk-bench\n"
        + f"    base_url: http://127.0.0.1:{upstream}/{big}/v1\n"
        + "model_capabilities:\n"
        + "  openai/long-context:\n"
        + "    context_window: 4000000\n"
        + "gateway:\n"
        + "  max_request_body: 32MiB\n"
    )


def realistic_config(port: int, upstreams: list[int]) -> str:
    """Several providers on separate origins (one connection pool each), aliases, headers, a
    default, a weighted model pool with a fallback, three routing rules and the gateway
    section; requests name ``fast``, which a rule sends to the pool (groq 3 : mistral 1)."""
    a, b, c, d = (upstreams * 4)[:4]
    return (
        _listener(port)
        + f"""model_providers:
  - model: openai/gpt-4o-mini
    access_key: sk-bench-openai
    base_url: http://127.0.0.1:{a}/v1
    default: true
  - model: openai/gpt-4o
    access_key: sk-bench-openai
    base_url: http://127.0.0.1:{a}/v1
  - model: groq/llama-3.3-70b-versatile
    access_key: gsk-bench
    base_url: http://127.0.0.1:{b}/openai/v1
    headers:
      x-team: bench
  - model: mistral/mistral-small-latest
    access_key: mistral-bench
    base_url: http://127.0.0.1:{c}/v1
  - model: deepseek/deepseek-chat
    access_key: ds-bench
    base_url: http://127.0.0.1:{d}/v1
  - model: lmstudio/qwen2.5-7b-instruct
    provider_interface: openai
    base_url: http://127.0.0.1:{d}/v1
model_aliases:
  fast:
    target: groq/llama-3.3-70b-versatile
  smart:
    target: openai/gpt-4o
  cheap:
    target: openai/gpt-4o-mini
  local:
    target: lmstudio/qwen2.5-7b-instruct
model_pools:
  chat:
    strategy: weighted
    deployments:
      - model: groq/llama-3.3-70b-versatile
        weight: 3
      - mistral/mistral-small-latest
    fallbacks: [openai/gpt-4o-mini]
routing_rules:
  - name: long-context
    when:
      input_tokens: {{gte: 8000}}
    route_to: smart
  - name: batch-team
    when:
      headers: {{x-team: [batch]}}
    route_to: cheap
  - name: fast-to-pool
    when:
      model: fast
    route_to: chat
gateway:
  max_request_body: 10MiB
  max_in_flight: 4096
  connect_timeout: 5s
  first_byte_timeout: 60s
  log_level: info
"""
    )


def filter_config(port: int, upstream: int) -> str:
    """The bare config with one stream filter on the listener: reversible redaction, so every
    stream is rendered from canonical events through the filter (the seam's cost)."""
    listener = "    timeout: 300s\n"
    base = bare_config(port, upstream).replace(listener, listener + "    input_filters: [pii]\n", 1)
    return base + (
        "filters:\n"
        "  - id: pii\n"
        "    type: regex_redact\n"
        "    options:\n"
        "      restore: true\n"
        "      patterns:\n"
        "        - {name: email, regex: '[\\w.+-]+@[\\w-]+\\.[\\w.]+'}\n"
    )


def quiet_config(port: int, upstream: int) -> str:
    """The bare config with the access log off (``log_level: warning``)."""
    return bare_config(port, upstream) + "gateway:\n  log_level: warning\n"


def litellm_config(upstream: int) -> str:
    return f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
"""
