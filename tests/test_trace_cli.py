"""`plano trace`'s rendering (pure): the list and the waterfall."""

from __future__ import annotations

import argparse
import io

from rich.console import Console

from plano.trace_cli import add_trace_command, traces_table, waterfall

MS = 1_000_000


def _render(obj: object) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(obj)
    return buf.getvalue()


def _span(
    sid: str, parent: str | None, name: str, service: str, start: int, end: int, **attrs: object
) -> dict[str, object]:
    return {
        "span_id": sid,
        "parent_id": parent,
        "name": name,
        "service": service,
        "start_ns": start * MS,
        "end_ns": end * MS,
        "status": "error" if "error.type" in attrs else "ok",
        "attributes": attrs,
    }


def test_waterfall_nests_children_and_places_bars() -> None:
    trace = {
        "trace_id": "t" * 32,
        "spans": [
            _span(
                "b",
                "a",
                "POST /v1/chat/completions gpt-4o",
                "plano(llm)",
                10,
                50,
                **{
                    "gen_ai.usage.input_tokens": 5,
                    "gen_ai.usage.output_tokens": 7,
                    "plano.attempt": 2,
                    "gen_ai.usage.cost": 0.001,
                },
            ),
            _span("a", "client", "POST /v1/chat/completions", "plano(inbound)", 0, 100),
            _span(
                "c",
                "a",
                "POST /v1/chat/completions gpt-4o",
                "plano(llm)",
                2,
                8,
                **{"error.type": "server_error", "plano.attempt": 1},
            ),
        ],
    }
    text = _render(waterfall(trace))
    lines = [line for line in text.splitlines() if "POST" in line]
    assert lines[0].startswith("POST /v1/chat/completions ")  # the root first
    assert lines[1].startswith("  POST") and "server_error" in lines[1]  # earlier child first
    assert "5→7 tok" in lines[2] and "attempt 2" in lines[2] and "$0.001000" in lines[2]
    root_bar = lines[0].count("█")
    assert root_bar == 40 and 0 < lines[1].count("█") < lines[2].count("█") < root_bar


def test_list_shows_failed_attempts_of_an_ok_trace() -> None:
    text = _render(
        traces_table(
            [
                {
                    "trace_id": "t" * 32,
                    "started_at": 0,
                    "root_name": "POST /v1/messages",
                    "model": "claude",
                    "duration_ms": 12.5,
                    "span_count": 5,
                    "tokens": 30,
                    "cost": "0.002",
                    "status": "ok",
                    "errors": 1,
                }
            ]
        )
    )
    assert "t" * 32 in text and "ok (1 failed)" in text and "12.5" in text


def test_arguments() -> None:
    p = argparse.ArgumentParser()
    add_trace_command(p.add_subparsers())
    args = p.parse_args(["trace", "--where", "a=b", "--where", "c=d", "--since", "5m", "--json"])
    assert args.where == ["a=b", "c=d"] and args.since == "5m" and args.json
    assert p.parse_args(["trace", "abc"]).trace_id == "abc"
