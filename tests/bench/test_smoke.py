"""The benchmark harness's pure parts: wrk output parsing, aggregation, targets, rendering,
profile summaries, and the fast upstream's request parsing. Heavy requests (agent-size bodies,
big answers, the /healthz prober) are in test_heavy.py."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from bench.clients import percentile, request_bytes
from bench.profiling import frame_key, parse_collapsed, render_summary, summarise
from bench.report import fmt, md_table, render_markdown
from bench.results import Sample, aggregate, evaluate_targets, find_row, sample_from_dict
from bench.scenarios import SCENARIOS, bare_config, realistic_config, request_body
from bench.upstream import Answers, parse_head
from bench.wrk import lua_script, parse_duration_ms, parse_wrk

WRK_TEXT = """Running 5s test @ http://127.0.0.1:19100/v1/chat/completions
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.64ms    8.12ms  66.09ms   70.00%
    Req/Sec     2.74k   569.85     3.46k    57.50%
  Latency Distribution
     50%   15.64ms
     75%   20.00ms
     90%   25.50ms
     99%   66.09ms
  13700 requests in 5.01s, 8.61MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2730.24
Transfer/sec:      1.72MB
"""

WRK_JSON = (
    'WRK_JSON {"requests":1000,"duration_us":2000000.0,"bytes":1.0,"connect":0,"read":0,'
    '"write":0,"status":2,"timeout":0,"mean_us":500.00,"stdev_us":10.00,"max_us":9000.0,'
    '"p50_us":450.0,"p90_us":700.0,"p99_us":1500.0,"p999_us":4000.0}'
)


def test_parse_wrk_text_report() -> None:
    r = parse_wrk(WRK_TEXT)
    assert r.requests == 13700
    assert r.rps == pytest.approx(2730.24 * (13700 - 4) / 13700)  # successful answers only
    assert r.duration_s == pytest.approx(5.01)
    assert r.p50_ms == pytest.approx(15.64)
    assert r.p90_ms == pytest.approx(25.5)
    assert r.p99_ms == pytest.approx(66.09)
    assert r.errors == 2 + 1 + 4 and r.non2xx == 4
    assert r.p999_ms is None


def test_parse_wrk_json_line_wins() -> None:
    r = parse_wrk("Running 2s test\n" + WRK_JSON + "\nRequests/sec: 1.0\n")
    assert r.requests == 1000 and r.rps == pytest.approx(499.0)  # 2 non-2xx not counted
    assert (r.p50_ms, r.p99_ms, r.p999_ms) == (0.45, 1.5, 4.0)
    assert r.errors == 2 and r.non2xx == 2


def test_parse_wrk_without_summary_raises() -> None:
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("595.00us", 0.595), ("15.64ms", 15.64), ("1.20s", 1200.0), ("2.00m", 120000.0)],
)
def test_parse_duration(text: str, ms: float) -> None:
    assert parse_duration_ms(text) == pytest.approx(ms)


def test_lua_script_embeds_body_and_headers() -> None:
    body = b'{"a":"]]","b":"]=]"}'
    lua = lua_script(body, {"Content-Type": "application/json", "x-portkey-provider": "openai"})
    assert 'wrk.method = "POST"' in lua
    assert "[==[" + body.decode() + "]==]" in lua  # long bracket level above any in the body
    assert 'wrk.headers["x-portkey-provider"] = "openai"' in lua
    assert "WRK_JSON" in lua and "done = function" in lua


def _s(
    scenario: str, target: str, rnd: int, rps: float, p50: float, p99: float, **kw: float
) -> Sample:
    return Sample(scenario, target, rnd, "wrk", 1, rps, p50, p50, p99, 100, 0, **kw)  # type: ignore[arg-type]


def test_aggregate_medians_and_paired_deltas() -> None:
    samples = [
        _s("json-c1", "direct", 0, 1000, 0.10, 0.20),
        _s("json-c1", "plano", 0, 500, 0.50, 1.20, cpu_us_per_req=300.0),
        _s("json-c1", "direct", 1, 900, 0.20, 0.30),  # a noisy round slows both sides
        _s("json-c1", "plano", 1, 450, 0.62, 1.50, cpu_us_per_req=320.0),
        _s("json-c1", "direct", 2, 1100, 0.10, 0.25),
        _s("json-c1", "plano", 2, 520, 0.45, 1.00, cpu_us_per_req=310.0),
    ]
    rows = aggregate(samples)
    assert [(r.scenario, r.target) for r in rows] == [("json-c1", "direct"), ("json-c1", "plano")]
    direct = find_row(rows, "json-c1", "direct")
    plano = find_row(rows, "json-c1", "plano")
    assert direct is not None and plano is not None
    assert direct.added_p50_ms is None and direct.rps == 1000
    assert plano.rounds == 3 and plano.requests == 300
    assert plano.p50_ms == pytest.approx(0.50)
    # Per-round differences 0.40, 0.42, 0.35 -> median 0.40 (not 0.50 - 0.10 by luck).
    assert plano.added_p50_ms == pytest.approx(0.40)
    assert plano.added_p99_ms == pytest.approx(1.0)
    assert plano.rps_vs_direct == pytest.approx(0.5)
    assert plano.cpu_us_per_req == pytest.approx(310.0)
    assert plano.ttft_p50_ms is None and plano.added_ttft_p50_ms is None


def test_sample_roundtrip_through_json() -> None:
    s = _s("ttft-c1", "plano", 0, 10, 1.0, 2.0, ttft_p50_ms=0.5)
    back = sample_from_dict({**json.loads(json.dumps(asdict(s))), "unknown_field": 1})
    assert back == s


def _doc(rows: list[Sample], extras: dict[str, object] | None = None) -> dict[str, object]:
    agg = aggregate(rows)
    ex: dict[str, object] = extras or {}
    return {
        "generated_at": "2026-01-01 00:00 UTC",
        "mode": "full",
        "settings": {"rounds": 1, "duration_s": 5, "load_generator": "wrk", "runtime_s": 1.0},
        "machine": {"nproc": 2, "cpu_model": "Test CPU", "memory_gb": 24.0},
        "versions": {"python": "3.11.7", "aiohttp": "3.14", "litellm": None},
        "peers": [{"name": "portkey", "available": False, "version": None, "note": "no node"}],
        "rows": [r.to_json() for r in agg],
        "targets": [c.to_json() for c in evaluate_targets(agg, ex)],
        "extras": ex,
        "configs": {"plano-bare": bare_config(1, 2)},
    }


def test_targets_verdicts() -> None:
    rows = aggregate(
        [
            _s("json-c1", "direct", 0, 9000, 0.05, 0.10),
            _s("json-c1", "plano", 0, 1500, 0.45, 1.50),
            _s("json-c50", "plano", 0, 3500, 10, 20),
            _s("json-c200", "plano", 0, 2900, 40, 80),
            _s("peers-json-c50", "plano", 0, 3500, 10, 20),
            _s("peers-json-c50", "litellm", 0, 70, 700, 900),
        ]
    )
    checks = {
        c.name: c for c in evaluate_targets(rows, {"streams": {"open": 1000, "rss_open_mb": 190.0}})
    }
    assert checks["Added latency p50 at concurrency 1"].met is True
    assert checks["Added latency p50 at concurrency 1"].value == pytest.approx(0.40)
    assert checks["Added latency p99 at concurrency 1"].met is True
    assert checks["Throughput, one worker on one core"].value == 3500
    assert checks["Throughput vs LiteLLM proxy (concurrency 50)"].value == pytest.approx(50.0)
    rss = checks["RSS with 1,000 concurrent open streams"]
    assert rss.met is False and rss.note == "1000 streams held open"
    later = evaluate_targets(
        rows, {"streams": {"open": 1000, "rss_open_mb": 100.0, "rss_after_close_mb": 172.0}}
    )
    rss_later = next(c for c in later if c.name == "RSS with 1,000 concurrent open streams")
    assert rss_later.met is True and rss_later.note.endswith("172 MB once the clients had left")
    ttft = checks["Time to first token added (streaming, concurrency 1)"]
    assert ttft.met is None and ttft.value is None  # not measured is not "failed"


def test_render_markdown_has_tables_and_verdicts() -> None:
    doc = _doc(
        [
            _s("json-c1", "direct", 0, 9000, 0.05, 0.10),
            _s("json-c1", "plano", 0, 1500, 0.45, 1.50, cpu_us_per_req=400.0, rss_mb=60.0),
            _s("peers-json-c50", "direct", 0, 20000, 2, 3),
            _s("peers-json-c50", "plano", 0, 3000, 10, 20),
            _s("peers-json-c50", "litellm", 0, 60, 700, 900),
        ],
        {
            "streams": {
                "requested": 1000,
                "open": 1000,
                "failed": 0,
                "rss_idle_mb": 50.0,
                "rss_open_mb": 120.0,
            }
        },
    )
    text = render_markdown(doc, notes="## Findings\n\nHand-written.", plots=["peers.png"])
    assert text.startswith("# Benchmarks")
    assert "2026-01-01 00:00 UTC" in text and "Test CPU" in text and "3.14" in text
    assert "| Added latency p50 at concurrency 1 | < 0.6 ms | 0.400 ms | **met** |" in text
    assert "**not measured**" not in text and "not measured" in text
    assert "| json-c1 | **plano** | 1,500 | 0.450 | 1.500 | 0.400 | 1.400 |" in text
    assert "50.0x" in text  # plano vs LiteLLM at concurrency 50
    assert "## Findings" in text and "![peers](benchmarks/peers.png)" in text
    assert "portkey: NOT available" in text and "```yaml" in text


def test_fmt_and_table() -> None:
    assert fmt(None) == "-" and fmt(1234.5) == "1,234" and fmt(0.12345, 3) == "0.123"
    assert fmt(7) == "7" and fmt(True) == "yes"
    assert md_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


_P = 'process 1:"python -m plano up";<module> (plano:8);run (asyncio/runners.py:118)'
_H = "handle (plano/server/gateway.py"
COLLAPSED = (
    f"{_P};{_H}:120);loads (orjson/__init__.py:1) 30\n"
    f"{_P};{_H}:125);write (aiohttp/http_writer.py:90) 50\n"
    f"{_P} 20\n"
    "garbage line\n"
)


def test_profile_summary() -> None:
    assert frame_key("handle (plano/server/gateway.py:120)") == "handle (plano/server/gateway.py)"
    stacks = parse_collapsed(COLLAPSED)
    assert len(stacks) == 3
    s = summarise(stacks)
    assert s.samples == 100
    assert s.self_top[0] == ("write (aiohttp/http_writer.py)", 0.5)
    incl = dict(s.inclusive_top)
    assert incl["handle (plano/server/gateway.py)"] == pytest.approx(0.8)  # two lines, one function
    assert dict(s.areas)["aiohttp"] == 0.5
    assert "50.0%  write (aiohttp/http_writer.py)" in render_summary(s, "t")


def test_percentile_nearest_rank() -> None:
    vals = [float(i) for i in range(1, 101)]
    assert percentile(vals, 50) == 50.0 and percentile(vals, 99) == 99.0
    assert percentile([], 50) == 0.0 and percentile([3.0], 99) == 3.0


def test_request_bytes_and_upstream_head_parsing() -> None:
    raw = request_bytes("127.0.0.1", 9, "/v1/chat/completions", b"{}", {"x-a": "1"})
    head, _, body = raw.partition(b"\r\n\r\n")
    method, path, length, chunked, keep = parse_head(head)
    assert (method, path, length, chunked, keep, body) == (
        b"POST",
        b"/v1/chat/completions",
        2,
        False,
        True,
        b"{}",
    )
    assert parse_head(b"POST / HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked")[
        3:
    ] == (
        True,
        False,
    )


def test_upstream_answers_are_valid_openai() -> None:
    a = Answers(tokens=4)
    head, _, body = a.json_response(b"gpt-4o-mini").partition(b"\r\n\r\n")
    data = json.loads(body)
    assert data["usage"]["completion_tokens"] == 4 and data["model"] == "gpt-4o-mini"
    assert b"content-length: %d" % len(body) in head
    chunks = a.sse_events(b"m", include_usage=True)
    stream = b"".join(chunks)
    assert stream.endswith(b"0\r\n\r\n") and b"data: [DONE]" in stream
    assert b'"usage":{"prompt_tokens"' in stream


def test_scenarios_and_configs() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert {"json-c1", "json-c50", "json-c200", "sse-c50", "ttft-c1"} <= set(names)
    assert json.loads(request_body("m", True))["stream_options"] == {"include_usage": True}
    text = realistic_config(1, [2, 3, 4, 5])
    assert "model_aliases:" in text and "127.0.0.1:3/openai/v1" in text
