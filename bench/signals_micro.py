"""``python -m bench.signals_micro``: what agentic signals cost per conversation, in µs.

For conversations of typical sizes (a short chat, a support chat with some frustration, an
agent's tool session, a long coding session past the bounds) it times (best of ``--rounds``
rounds of ``--n`` runs each):

* ``copy``: :func:`plano.signals.transcript`, the bounded copy the filter takes in
  ``on_complete`` (the only part on the event loop);
* ``analyze``: :func:`plano.signals.analyze`, run on the background thread;

then the filter's ``on_stream_seen`` per stream event and ``GET /plano/v1/signals/summary``
over a full window (1,000 reports). Prints a table, and the figures as one JSON object on
the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from plano.core.model import ChatRequest, Message, TextDelta, TextPart, Tool, ToolCall
from plano.filters.signals import Entry, SignalDesk, SignalsFilter
from plano.pipeline.context import RequestContext
from plano.signals import Memo, analyze, transcript

__all__ = ["conversations", "main"]

_PROSE = (
    "The export job finished but the CSV only has headers; the dashboard shows 1,204 rows for "
    "the same filter. I am on the team plan, region eu-west, and this started after Monday. "
)
_CODE = (
    "def handler(event):\n    rows = load(event['path'])\n    return [r for r in rows if r.ok]\n"
)


def _say(role: str, text: str) -> Message:
    return Message(role, [TextPart(text)])  # type: ignore[arg-type]


def _tool_round(i: int) -> list[Message]:
    call = ToolCall(f"c{i}", "search_orders", json.dumps({"customer": 42, "page": i % 3}))
    return [
        Message("assistant", [TextPart("Let me look that up.")], [call]),
        Message("tool", [TextPart(json.dumps({"orders": [{"id": i, "total": 12.5}] * 20}))]),
    ]


def conversations() -> dict[str, ChatRequest]:
    short = [_say("user", "What is the capital of Portugal?"), _say("assistant", "Lisbon.")]
    support = [_say("system", "You are a support agent.")]
    for i in range(6):
        angry = "this is useless!!" if i == 4 else ""
        support += [_say("user", f"{_PROSE} (try {i}) {angry}"),
                    _say("assistant", f"Sorry about that. Could you try step {i}? ")]  # fmt: skip
    agent = [_say("user", "Find every order of customer 42 over 10 EUR and refund the last.")]
    for i in range(18):
        agent += _tool_round(i)
    agent.append(_say("assistant", "Refunded order 17."))
    coding = [_say("system", "You are a coding agent. " + _CODE * 40)]
    for i in range(80):
        coding += [_say("user", f"Step {i}: fix the test.\n" + _CODE * 30)]
        coding += [_say("assistant", "Here is the patch:\n" + _CODE * 30), *_tool_round(i)]
    tools = [Tool("search_orders")]
    return {
        "short chat (2 msgs)": ChatRequest("m", short),
        "support chat (13 msgs, 4 KB)": ChatRequest("m", support),
        "agent tools (38 msgs, 40 KB)": ChatRequest("m", agent, tools=tools),
        "coding session (321 msgs, 700 KB)": ChatRequest("m", coding, tools=tools),
    }


def _best(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Seconds per call, best round."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _size(req: ChatRequest) -> int:
    return sum(len(m.text()) + sum(len(c.arguments) for c in m.tool_calls) for m in req.messages)


def _row(name: str, req: ChatRequest, n: int, rounds: int) -> dict[str, float]:
    t = transcript(req)
    copy_us = _best(lambda: transcript(req), n, rounds) * 1e6
    few = max(n // 10, 5)
    analyze_us = _best(lambda: analyze(t), few, rounds) * 1e6
    memo = Memo()
    analyze(t, memo=memo)
    more = [*req.messages, _say("user", "ok, and the next step?"), _say("assistant", "Done.")]
    t2 = transcript(ChatRequest("m", more, tools=req.tools))
    next_us = _best(lambda: analyze(t2, memo=memo), few, rounds) * 1e6
    found = len(analyze(t).signals)
    cells = f"{_size(req):>8} {copy_us:>9.1f} {analyze_us:>11.1f} {next_us:>13.1f} {found:>8}"
    print(f"{name:36} {cells}")
    return {
        "chars": _size(req),
        "copy_us": round(copy_us, 1),
        "analyze_us": round(analyze_us, 1),
        "next_turn_us": round(next_us, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    out: dict[str, object] = {}
    head = f"{'conversation':36} {'chars':>8} {'copy µs':>9} {'analyze µs':>11}"
    print(f"{head} {'next turn µs':>13} {'signals':>8}")
    for name, req in conversations().items():
        out[name] = _row(name, req, args.n, args.rounds)
    desk = SignalDesk()
    f = SignalsFilter(desk)
    ctx = RequestContext("r", "openai_chat", {})
    ev = TextDelta("hello ")
    seen_us = _best(lambda: f.on_stream_seen(ctx, ev), args.n * 50, args.rounds) * 1e6
    report = analyze(transcript(conversations()["support chat (13 msgs, 4 KB)"]))
    for i in range(1000):
        desk.window.add(Entry(f"r{i}", "t", "openai/gpt-4o", float(i), report))
    summary_ms = _best(lambda: desk.summary(), 20, args.rounds) * 1e3
    print(f"on_stream_seen per event: {seen_us:.2f} µs")
    print(f"summary over 1,000 reports: {summary_ms:.2f} ms")
    out["stream_event_us"] = round(seen_us, 3)
    out["summary_ms"] = round(summary_ms, 2)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
