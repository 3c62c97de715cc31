"""In-process micro-measurements that explain the end-to-end figures (run in a fresh
interpreter by ``bench.run``; prints one JSON object):

* where a gateway worker's resident memory goes (imports, tiktoken's encodings, prices);
* how long the ledger's batched access-log flush holds the event loop (per record, and for
  the batch that one flush interval of traffic at 1,500 req/s produces).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["main", "memory_breakdown"]


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_breakdown() -> list[tuple[str, float]]:
    """(step, RSS in MB after it), in the order a worker starts."""
    steps = [("interpreter", _rss_mb())]
    import aiohttp  # noqa: F401
    import orjson  # noqa: F401
    import pydantic  # noqa: F401

    steps.append(("aiohttp + orjson + pydantic imported", _rss_mb()))
    import plano.server.runner  # noqa: F401

    steps.append(("plano.server.runner imported (genai-prices data included)", _rss_mb()))
    from plano.accounting.pricing import PriceBook

    PriceBook().rates("openai", "gpt-4o-mini")
    steps.append(("one price looked up", _rss_mb()))
    import tiktoken

    from plano.accounting.tokens import prepare_cache

    cache = prepare_cache(Path(tempfile.gettempdir()) / "plano-bench-tiktoken")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    for name in ("o200k_base", "cl100k_base"):
        tiktoken.get_encoding(name)
        steps.append((f"tiktoken {name} loaded (if a count needs it)", _rss_mb()))
    return steps


def ledger_flush() -> dict[str, float | str]:
    """Event-loop time of ``Ledger.flush`` with the access log on, set up as the server sets
    it up (its stderr sink when there is one), for the batch that one flush interval of
    traffic at 1,500 req/s leaves."""
    import inspect
    import sys

    from plano.accounting import ledger as ledger_mod
    from plano.accounting.ledger import Ledger, UsageRecord
    from plano.core.model import Usage

    handler = logging.FileHandler(os.devnull)
    access = logging.getLogger("plano.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    accepted = set(inspect.signature(UsageRecord).parameters)
    base: dict[str, Any] = {
        "ts": time.time(),
        "shape": "openai_chat",
        "model_requested": "gpt-4o-mini",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": 200,
        "stream": False,
        "usage": Usage(input_tokens=12, output_tokens=16),
        "cost": Decimal("0.0000114"),
        "total_ms": 0.8,
        "overhead_ms": 0.2,
        "ttft_ms": None,
        "attempts": 1,
    }
    sink = getattr(ledger_mod, "stderr_sink", None)
    ledger = Ledger(sink=sink) if sink is not None else Ledger()
    interval = float(getattr(ledger, "_interval", 0.5))
    n = max(1, round(1500 * interval))
    best = float("inf")
    saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    try:
        for _ in range(5):
            for i in range(n):
                kw = {**base, "request_id": f"req_{i:024x}"}
                ledger.add(UsageRecord(**{k: v for k, v in kw.items() if k in accepted}))
            t0 = time.perf_counter()
            ledger.flush()
            best = min(best, time.perf_counter() - t0)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    return {
        "records": n,
        "interval_s": interval,
        "sink": "stderr_sink" if sink is not None else "logging",
        "flush_ms": round(best * 1000, 3),
        "us_per_record": round(best / n * 1e6, 2),
    }


def main() -> int:
    out: dict[str, Any] = {}
    try:
        out["memory"] = memory_breakdown()
    except Exception as exc:  # the gateway's internals move; report, do not crash the run
        out["memory_error"] = repr(exc)
    try:
        out["ledger_flush"] = ledger_flush()
    except Exception as exc:
        out["ledger_flush_error"] = repr(exc)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
