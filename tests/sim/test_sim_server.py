"""Server lifecycle, introspection, the background-thread runner and the CLI."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import urllib.request

import aiohttp
import anthropic
import openai
import orjson
import pytest
from tests.sim.sim_helpers import chat

from plano.sim import SimOptions, SimServer
from plano.sim.cli import add_arguments, run


async def test_requests_and_stats(sim: SimServer, http: aiohttp.ClientSession) -> None:
    assert sim.url == f"http://127.0.0.1:{sim.port}" and sim.port > 0
    async with http.post(sim.url + "/v1/chat/completions", json=chat("one")) as r:
        await r.read()
    async with http.post(sim.url + "/v1/chat/completions", json=chat("two", stream=True)) as r:
        await r.read()
    async with http.post(sim.url + "/v1/messages", data=b"not json") as r:
        assert r.status == 400
    recorded = sim.requests
    assert [r.path for r in recorded] == ["/v1/chat/completions"] * 2 + ["/v1/messages"]
    assert recorded[0].body["messages"][0]["content"] == "one"
    assert recorded[0].headers["authorization"] == "Bearer sk-test"
    assert recorded[2].body is None and recorded[2].raw_body == b"not json"
    stats = sim.stats
    assert (stats.total, stats.in_flight, stats.streams) == (3, 0, 1)
    assert stats.by_path == {"/v1/chat/completions": 2, "/v1/messages": 1}

    async with http.get(sim.url + "/_sim/requests") as r:
        listed = await r.json()
    assert listed[1]["body"]["stream"] is True
    assert listed[1]["headers"]["anthropic-version"] == "2023-06-01"
    async with http.get(sim.url + "/_sim/stats") as r:
        assert (await r.json())["by_path"]["/v1/messages"] == 1
    async with http.post(sim.url + "/_sim/reset") as r:
        assert r.status == 200
    assert sim.requests == [] and sim.stats.total == 0
    async with http.get(sim.url + "/_sim/nothing") as r:
        assert r.status == 404


async def test_history_is_bounded(http: aiohttp.ClientSession) -> None:
    async with SimServer(history=3) as sim:
        for i in range(5):
            async with http.post(sim.url + "/v1/chat/completions", json=chat(str(i))) as r:
                await r.read()
        assert [r.body["messages"][0]["content"] for r in sim.requests] == ["2", "3", "4"]
        assert sim.stats.total == 5


def test_not_started() -> None:
    with pytest.raises(RuntimeError):
        _ = SimServer().requests
    sim = SimServer(SimOptions(output_tokens=3))
    assert sim.set_options(fault="500").fault == "500"
    assert sim.options.output_tokens == 3


def test_in_thread_with_sync_sdks() -> None:
    with SimServer.in_thread(SimOptions(name="acme", output_tokens=6)) as sim:
        oai = openai.OpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0)
        r = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "Simulated reply from acme m: hi"
        assert r.id == "chatcmpl-acme-1"
        stream = oai.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
        claude = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
        with claude.messages.stream(
            model="c", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            assert s.get_final_text() == "Simulated reply from acme c: hi"
        sim.set_options(fault="503")
        with pytest.raises(openai.InternalServerError):
            oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert len(sim.requests) == 4


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_arguments() -> None:
    args = parse()
    assert (args.host, args.port, args.workers, args.fault, args.tokens) == (
        "127.0.0.1",
        9000,
        1,
        "none",
        16,
    )
    args = parse("--port", "0", "--latency-ms", "5", "--tps", "50", "--fault", "429")
    assert (args.latency_ms, args.tps, args.fault) == (5.0, 50.0, "429")
    with pytest.raises(SystemExit):
        parse("--fault", "explode")


def test_cli_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("--fault-rate", "3")) == 2
    assert "fault_rate" in capsys.readouterr().err
    assert run(parse("--workers", "0")) == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_python_m_serves_until_sigterm(workers: int) -> None:
    cmd = [sys.executable, "-m", "plano.sim", "--port", "0", "--workers", str(workers)]
    cmd += ["--no-auth", "--tokens", "4"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "listening on http://127.0.0.1:" in line
            url = line.split()[4]
            request = urllib.request.Request(
                url + "/v1/chat/completions", data=orjson.dumps(chat("hi")), method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as resp:
                body = orjson.loads(resp.read())
            assert body["usage"]["completion_tokens"] == 4
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
