"""``python -m bench.pii_micro``: what the built-in PII detector costs, in ms per KB of text.

On realistic text of each kind an agent's requests carry (prose, source code, tool results
such as logs and command output, JSON API answers), with a few PII values sprinkled in as in
real traffic, it times (median of ``--rounds`` rounds, each scanning the text ``--n`` times,
cache off):

* ``spans``: :meth:`PiiDetector.spans`, every built-in kind on;
* ``scrub``: :meth:`PiiScrubber.scrub` (the helper for logs);

then, per request, the ``pii`` filter's redaction (:func:`redact_request`) of a 2 KB chat
prompt, and of a 64 KB conversation, first seen and sent again (its history cached, as a
conversation's next turn is). Prints a table, and the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import statistics
import time
from collections.abc import Callable

__all__ = ["main", "texts"]

_PII = [
    "alice@example.com",
    "+1 415 555 2671",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "203.0.113.7",
    "536-22-1234",
    "AKIAIOSFODNN7EXAMPLE",
]
_PROSE = (
    "The quarterly review showed revenue up 12% to $4.5 million, driven by new customers in "
    "Europe and Asia. Churn fell to 2.1% after the March release (version 3.2.1), and support "
    "tickets dropped by a third. Next quarter we plan to hire two engineers, move the billing "
    "service to the new cluster on 2024-07-01 at 09:00 UTC, and review pricing for the "
    "enterprise tier. Please send comments before Thursday's meeting; the deck is in the "
    "shared drive under Q2/review. "
)


def _sprinkle(text: str, every: int, rng: random.Random) -> str:
    """``text`` with a PII value inserted about every ``every`` characters (at spaces)."""
    out, at = [], 0
    while at < len(text):
        cut = text.find(" ", at + every)
        if cut < 0:
            break
        out += [text[at:cut], " ", rng.choice(_PII)]
        at = cut
    out.append(text[at:])
    return "".join(out)


def _code() -> str:
    import plano.filters.redact
    import plano.server.gateway
    import plano.wire.openai_chat

    mods = (plano.server.gateway, plano.wire.openai_chat, plano.filters.redact)
    return "\n".join(inspect.getsource(m) for m in mods)


def _tool_output(rng: random.Random) -> str:
    lines = []
    for i in range(600):
        ts = f"2024-05-12T14:{i // 60 % 60:02d}:{i % 60:02d}.{rng.randrange(1000):03d}Z"
        lines.append(
            f"{ts} INFO req={rng.getrandbits(64):016x} method=POST path=/v1/orders/{1000 + i} "
            f"status=200 latency_ms={rng.uniform(1, 900):.1f} bytes={rng.randrange(100, 99999)}"
        )
        if i % 50 == 0:
            lines.append(f"src/app/service.py:{i}: def handle_{i}(req): return {i} * 3.14")
    return "\n".join(lines)


def _json(rng: random.Random) -> str:
    rows = [
        {
            "id": 1_000_000 + i * 7919,
            "uuid": f"123e4567-e89b-12d3-a456-{rng.getrandbits(48):012x}",
            "created": f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:30:00Z",
            "status": rng.choice(["shipped", "pending", "cancelled"]),
            "total": round(rng.uniform(1, 999), 2),
            "sha": f"{rng.getrandbits(160):040x}",
            "items": [{"sku": f"SKU-{rng.randrange(10**6):06d}", "qty": rng.randrange(1, 5)}],
            "note": rng.choice(["", "leave at door", "gift wrap", "call before delivery"]),
        }
        for i in range(250)
    ]
    return json.dumps(rows, indent=1)


def texts(size: int = 32 * 1024, seed: int = 7) -> dict[str, str]:
    """Realistic text of each kind, about ``size`` characters, with PII every ~2 KB."""
    rng = random.Random(seed)
    raw = {
        "prose": _PROSE * (size // len(_PROSE) + 1),
        "code": _code(),
        "tool output": _tool_output(rng),
        "json": _json(rng),
    }
    return {name: _sprinkle(t[:size], 2048, rng) for name, t in raw.items()}


def _median_ms(fn: Callable[[], object], n: int, rounds: int) -> float:
    fn()
    per = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        per.append((time.perf_counter() - started) / n * 1000)
    return statistics.median(per)


def _request_ms(n: int, rounds: int) -> dict[str, float]:
    from plano.core.model import ChatRequest, Message, TextPart
    from plano.filters.redact import Redactions, Redactor, redact_request
    from plano.guard.pii import PiiDetector

    fresh = Redactor(PiiDetector(cache_chars=0), "[{kind} {n}]", 256)
    cached = Redactor(PiiDetector(), "[{kind} {n}]", 256)
    page = texts(64 * 1024)
    prompt = page["prose"][:1024] + page["json"][:1024]
    turns = [page["prose"], page["code"], page["tool output"], page["json"]]

    def run(redactor: Redactor, parts: list[str]) -> None:
        msgs = [Message("user", [TextPart(p[:16384])]) for p in parts]
        redact_request(ChatRequest(model="m", messages=msgs), redactor, Redactions())

    return {
        "request_2kb_ms": _median_ms(lambda: run(fresh, [prompt]), n, rounds),
        "conversation_64kb_ms": _median_ms(lambda: run(fresh, turns), n, rounds),
        "conversation_64kb_cached_ms": _median_ms(lambda: run(cached, turns), n, rounds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32 * 1024, help="characters per text")
    parser.add_argument("--n", type=int, default=20, help="scans per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    from plano.guard.pii import PiiDetector, PiiScrubber

    detector = PiiDetector(cache_chars=0)
    scrubber = PiiScrubber(detector=detector)
    figures: dict[str, object] = {}
    print(f"{'text':<12} {'KB':>6} {'found':>6} {'spans ms/KB':>12} {'scrub ms/KB':>12}")
    for name, text in texts(args.size).items():
        kb = len(text.encode()) / 1024
        spans = _median_ms(lambda t=text: detector.spans(t), args.n, args.rounds) / kb
        scrub = _median_ms(lambda t=text: scrubber.scrub(t), args.n, args.rounds) / kb
        found = len(detector.spans(text))
        print(f"{name:<12} {kb:6.1f} {found:6d} {spans:12.3f} {scrub:12.3f}")
        figures[name] = {"kb": round(kb, 1), "found": found, "spans_ms_per_kb": round(spans, 4)}
    per_request = _request_ms(args.n, args.rounds)
    for key, value in per_request.items():
        print(f"{key:<30} {value:8.3f} ms")
    figures.update({k: round(v, 4) for k, v in per_request.items()})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
