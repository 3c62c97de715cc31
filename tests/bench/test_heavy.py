"""Heavy requests in the harness: the agent-size body, the upstream's big answers, the
/healthz prober's accounting of stalls, and how both measurements are judged and rendered."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.agent import agent_body, code_text
from bench.clients import body_args
from bench.heavy import smoke_problems, stall_loads
from bench.probe import probe, summarise
from bench.report import render_markdown
from bench.results import Sample, aggregate, evaluate_targets
from bench.scenarios import SCENARIOS, heavy_config, scenario_body
from bench.upstream import Answers, BigAnswer, big_answer
from bench.wrk import lua_script

from plano.config.loader import check_config, parse_yaml

MIB = 1024 * 1024


def test_agent_body_is_a_178_kb_coding_session_and_always_the_same() -> None:
    body = agent_body("gpt-4o-mini")
    assert body == agent_body("gpt-4o-mini")  # no randomness between runs
    assert 170_000 <= len(body) <= 186_000
    data = orjson.loads(body)
    roles = [m["role"] for m in data["messages"]]
    assert roles[0] == "system" and len(roles) == 1 + 60 * 4
    assert roles[1:5] == ["user", "assistant", "tool", "assistant"]
    assert [t["function"]["name"] for t in data["tools"]] == ["read_file", "apply_patch", "run"]
    assert "stream" not in data and data["model"] == "gpt-4o-mini"
    call = data["messages"][2]["tool_calls"][0]
    assert data["messages"][3]["tool_call_id"] == call["id"]
    assert json.loads(call["function"]["arguments"])["path"].endswith(".py")
    assert "```python\nclass " in data["messages"][4]["content"]


def test_agent_body_text_reads_like_code_not_like_one_repeated_string() -> None:
    text = "\n".join(m.get("content") or "" for m in orjson.loads(agent_body("m"))["messages"])
    words = re.findall(r"[A-Za-z_]+", text)
    assert len(set(words)) > 1000  # varied identifiers, as in real code
    lines = text.splitlines()
    assert len(set(lines)) > 0.5 * len(lines)
    assert "    def " in text and "return " in text and "raise " in text


def test_agent_body_grows_to_a_size_and_streams_when_asked() -> None:
    big = agent_body("long-context", True, turns=1, min_bytes=2 * MIB)
    assert 2 * MIB <= len(big) < 2 * MIB + 8_000
    data = orjson.loads(big)
    assert data["stream"] is True and data["stream_options"] == {"include_usage": True}


def test_code_text_fits_its_size_and_depends_on_its_seed() -> None:
    assert code_text(0) == "" and len(code_text(10)) == 10
    for n in (100, 1080, 50_000):
        text = code_text(n, seed=3)
        assert n - 200 <= len(text) <= n
        assert text == code_text(n, seed=3)
    assert code_text(1000, seed=1) != code_text(1000, seed=2)


def test_big_scenarios_send_the_agent_body() -> None:
    big = {s.name: s for s in SCENARIOS if s.body == "agent"}
    assert set(big) == {"big-c1", "big-c50"}
    assert all(s.targets == ("direct", "floor", "plano") and not s.stream for s in big.values())
    assert scenario_body("gpt-4o-mini", big["big-c50"]) == agent_body("gpt-4o-mini")


def test_wrk_script_carries_the_whole_agent_body() -> None:
    body = agent_body("gpt-4o-mini")
    lua = lua_script(body, {"Content-Type": "application/json"})
    m = re.search(r"wrk\.body = \[(=*)\[(.*)\]\1\]\n", lua, re.S)
    assert m is not None and m.group(2).encode() == body


def test_large_client_bodies_go_through_a_file(tmp_path: Path) -> None:
    assert body_args(b'{"a":1}', tmp_path / "b.json") == ["--body", '{"a":1}']
    body = agent_body("m")  # above the 128 KiB a single command-line argument may hold
    args = body_args(body, tmp_path / "big.json")
    assert args == ["--body-file", str(tmp_path / "big.json")]
    assert (tmp_path / "big.json").read_bytes() == body


def test_heavy_config_is_a_valid_plano_config() -> None:
    data, issues = parse_yaml(heavy_config(8080, 9000, 20 * MIB))
    assert not [i for i in issues if i.severity == "error"]
    config, issues = check_config(data, {})
    assert config is not None, issues
    assert config.gateway.max_request_body == 32 * MIB
    urls = [p.base_url for p in config.model_providers]
    assert urls[-1] == f"http://127.0.0.1:9000/answer_bytes={20 * MIB}/usage=off/v1"
    assert config.model_capabilities["openai/long-context"].context_window == 4_000_000


def test_stall_loads_are_small_in_smoke_runs() -> None:
    prompt, stream = stall_loads(smoke=False)
    assert (prompt.prompt_bytes, prompt.stream, prompt.model) == (10 * MIB, False, "long-context")
    assert (stream.answer_bytes, stream.stream, stream.model) == (20 * MIB, True, "no-usage")
    assert 2 <= prompt.clients <= 4
    assert all(s.prompt_bytes + s.answer_bytes <= 2 * MIB for s in stall_loads(smoke=True))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/v1/chat/completions", None),
        (b"/openai/v1/chat/completions", None),
        (b"/answer_bytes=4096/usage=off/v1/chat/completions", BigAnswer(4096, 1024, False)),
        (b"/v1/chat/completions?answer_bytes=10&event_bytes=3", BigAnswer(10, 3, True)),
        (b"/usage=0/v1/chat/completions", BigAnswer(0, 1024, False)),
    ],
)
def test_big_answer_options_from_the_url(path: bytes, expected: BigAnswer | None) -> None:
    assert big_answer(path) == expected


def _events(chunks: list[bytes]) -> list[Any]:
    stream = b"".join(chunks)
    datas = re.findall(rb"data: (.*?)\n\n", stream)
    assert datas[-1] == b"[DONE]" and stream.endswith(b"0\r\n\r\n")
    return [orjson.loads(d) for d in datas[:-1]]


def test_upstream_streams_a_big_answer_without_usage() -> None:
    a = Answers(tokens=4)
    big = BigAnswer(answer_bytes=50_000, event_bytes=1000, usage=False)
    events = _events(a.sse_events(b"no-usage", include_usage=True, big=big))
    assert all("usage" not in e for e in events)  # not even "usage": null
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == code_text(50_000, seed=5) and len(events) == 2 + 50
    with_usage = _events(a.sse_events(b"m", True, BigAnswer(50_000, 1000, True)))
    assert with_usage[-1]["usage"]["completion_tokens"] == 12_500
    small = _events(a.sse_events(b"m", include_usage=True))
    assert small[-1]["usage"]["completion_tokens"] == 4  # the default answer is unchanged


def test_upstream_usage_off_alone_keeps_the_small_answer() -> None:
    events = _events(Answers(tokens=4).sse_events(b"m", True, BigAnswer(0, usage=False)))
    assert len(events) == 2 + 4 and all("usage" not in e for e in events)


def test_upstream_big_json_answer() -> None:
    a = Answers(tokens=4)
    head, _, body = a.json_response(b"m", BigAnswer(30_000, usage=False)).partition(b"\r\n\r\n")
    data = orjson.loads(body)
    assert "usage" not in data and len(data["choices"][0]["message"]["content"]) <= 30_000
    assert b"content-length: %d" % len(body) in head
    assert orjson.loads(a.json_response(b"m").partition(b"\r\n\r\n")[2])["usage"]


def test_probe_summary() -> None:
    s = summarise([1.0] * 98 + [60.0, 200.0], [1.0] * 99, errors=1, seconds=1.0)
    assert (s["probes"], s["sent"], s["errors"], s["over_50ms"]) == (100, 99, 1, 2)
    assert (s["p50_ms"], s["p99_ms"], s["max_ms"]) == (1.0, 60.0, 200.0)


@pytest.fixture
def stalling_server() -> Iterator[int]:
    """A /healthz server on its own thread and loop that holds its loop 200 ms once."""
    loop = asyncio.new_event_loop()
    served = 0
    ready = threading.Event()
    port: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        while not reader.at_eof():
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            served += 1
            if served == 10:
                time.sleep(0.2)  # noqa: ASYNC251 (the stall under test: the loop is held)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        writer.close()

    servers: list[asyncio.Server] = []

    async def start() -> None:
        servers.append(await asyncio.start_server(handle, "127.0.0.1", 0))
        port.append(servers[0].sockets[0].getsockname()[1])
        ready.set()

    async def stop() -> None:
        servers[0].close()
        await servers[0].wait_closed()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    assert ready.wait(5)
    yield port[0]
    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


async def test_probe_counts_a_stall_for_every_probe_due_during_it(stalling_server: int) -> None:
    res = await probe("127.0.0.1", stalling_server, "/healthz", 0.01, 0.6, 5.0)
    assert res["errors"] == 0
    assert res["max_ms"] >= 190
    # ~20 probes fell due during the 200 ms: not sent, but counted as waiting for it.
    assert res["sent"] < res["probes"] - 10
    assert 10 <= res["over_50ms"] <= 25
    assert res["p50_ms"] < 50 and res["service_max_ms"] >= 190


def _s(scenario: str, target: str, rps: float) -> Sample:
    return Sample(scenario, target, 0, "wrk", 50, rps, 10.0, 10.0, 20.0, 100, 0)


def _stall(p99_prompt: float, p99_stream: float, errors: int = 0) -> dict[str, object]:
    def load(title: str, p99: float) -> dict[str, object]:
        probe = {"probes": 400, "sent": 380, "errors": 0, "p50_ms": 1.0, "p99_ms": p99}
        probe |= {"max_ms": p99 * 2, "over_50ms": 3}
        return {
            "title": title,
            "clients": 2,
            "requests": 8,
            "errors": errors,
            "request_p50_ms": 900.0,
            "gateway_cpu_cores": 0.9,
            "probe": probe,
        }

    idle = {"probes": 200, "sent": 200, "errors": 0, "p50_ms": 0.5, "p99_ms": 1.0}
    return {
        "interval_ms": 10,
        "probe_s": 4.0,
        "idle": idle | {"max_ms": 1.2, "over_50ms": 0},
        "loads": {
            "prompt": load("10 MiB prompts, non-streaming", p99_prompt),
            "stream": load("20 MiB streamed answers, no usage from the provider", p99_stream),
        },
        "gateway_peak_rss_mb": 300.0,
    }


def test_targets_for_big_prompts_and_stalls() -> None:
    rows = aggregate([_s("big-c50", "floor", 2000), _s("big-c50", "plano", 900)])
    extras = {"big_prompt": {"bytes": 178_599}, "stall": _stall(12.0, 3100.0)}
    checks = {c.name: c for c in evaluate_targets(rows, extras)}
    big = checks["Big prompt (178.6 KB agent request, concurrency 50): req/s vs the aiohttp floor"]
    assert (
        big.value == pytest.approx(0.45) and big.met is True and big.goal == ">= 0.40 of the floor"
    )
    assert big.note == "900 vs 2,000 req/s"
    prompt = checks["/healthz p99 while big prompts go through"]
    stream = checks["/healthz p99 while big streamed answers go through"]
    assert (prompt.met, stream.met, stream.value) == (True, False, 3100.0)
    assert "max 6,200 ms" in stream.note and "clients: 2" in stream.note
    low = evaluate_targets(
        aggregate([_s("big-c50", "floor", 2000), _s("big-c50", "plano", 110)]), {}
    )
    unmeasured = {c.name: c for c in low}
    assert unmeasured["/healthz p99 while big prompts go through"].met is None
    assert next(c for c in low if c.name.startswith("Big prompt")).met is False


def test_report_renders_big_prompt_and_stall_sections() -> None:
    samples = [_s("big-c50", t, r) for t, r in (("direct", 5000), ("floor", 2000), ("plano", 110))]
    agg = aggregate(samples)
    extras = {
        "big_prompt": {"bytes": 178_599, "messages": 241, "roles": {"system": 1, "user": 60}},
        "stall": _stall(12.0, 3100.0),
    }
    doc = {
        "rows": [r.to_json() for r in agg],
        "targets": [c.to_json() for c in evaluate_targets(agg, extras)],
        "extras": extras,
    }
    text = render_markdown(doc)
    assert "## Big prompts: a coding agent's request" in text
    assert "178,599 bytes of JSON, 241 messages (1 system, 60 user)" in text
    assert "| big-c50 | **plano** | 110 |" in text
    assert "Plano's req/s as a share of the floor's: 0.06 at concurrency 50." in text
    assert "## Event-loop stalls: /healthz while big requests go through" in text
    assert "| idle | - | - | - | - | 0.50 | 1.00 | 1.2 | 0 of 200 | - |" in text
    assert "| 20 MiB streamed answers, no usage from the provider | 2 | 8 | 0 | 900 |" in text
    assert "| /healthz p99 while big streamed answers go through | < 50 ms | 3,100 ms |" in text
    empty = render_markdown({"rows": [], "targets": [], "extras": {}})
    assert "## Event-loop stalls" in empty and "_Not measured in this run._" in empty


def test_smoke_fails_on_errors_not_on_slowness() -> None:
    slow = {"extras": {"stall": _stall(900.0, 5000.0)}}
    assert smoke_problems(slow) == []
    broken = {"extras": {"stall": _stall(1.0, 1.0, errors=2)}}
    assert smoke_problems(broken) == [
        "stall prompt: 2 errors, 8 requests",
        "stall stream: 2 errors, 8 requests",
    ]
    assert smoke_problems({"extras": {}}) == []
    half = {"extras": {"stall": {"loads": {}, "idle": {}}}}
    assert smoke_problems(half) == ["the stall probe did not run under both loads"]
