"""In-process usage ledger: recent requests and running totals per provider/model.

Records arrive from ``on_complete`` (off the request's task). Structured access-log lines are
written in batches by one background task, so logging never sits on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from plano.core.model import Usage

__all__ = ["Ledger", "Totals", "UsageRecord", "stderr_sink"]

access_log = logging.getLogger("plano.access")


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    ts: float
    shape: str
    model_requested: str
    provider: str
    model: str
    status: int
    stream: bool
    usage: Usage | None
    cost: Decimal | None
    total_ms: float
    overhead_ms: float
    ttft_ms: float | None
    attempts: int
    error: str | None = None
    principal: str | None = None

    def to_json(self) -> dict[str, Any]:
        u = self.usage
        return {
            "request_id": self.request_id,
            "ts": round(self.ts, 3),
            "shape": self.shape,
            "model_requested": self.model_requested,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "stream": self.stream,
            "input_tokens": u.input_tokens if u else None,
            "output_tokens": u.output_tokens if u else None,
            "cache_read_tokens": u.cache_read_tokens if u else None,
            "cache_write_tokens": u.cache_write_tokens if u else None,
            "reasoning_tokens": u.reasoning_tokens if u else None,
            "usage_estimated": u.estimated if u else None,
            "cost_usd": str(self.cost) if self.cost is not None else None,
            "total_ms": round(self.total_ms, 3),
            "overhead_ms": round(self.overhead_ms, 3),
            "ttft_ms": round(self.ttft_ms, 3) if self.ttft_ms is not None else None,
            "attempts": self.attempts,
            "error": self.error,
            "principal": self.principal,
        }


@dataclass(slots=True)
class Totals:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unpriced: int = 0

    def add(self, r: UsageRecord) -> None:
        self.requests += 1
        if r.status >= 400:
            self.errors += 1
        if r.usage is not None:
            self.input_tokens += r.usage.input_tokens
            self.output_tokens += r.usage.output_tokens
            self.cache_read_tokens += r.usage.cache_read_tokens
            self.cache_write_tokens += r.usage.cache_write_tokens
            self.reasoning_tokens += r.usage.reasoning_tokens
        if r.cost is not None:
            self.cost += r.cost
        elif r.usage is not None:
            self.unpriced += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": str(self.cost),
            "unpriced_requests": self.unpriced,
        }


class Ledger:
    def __init__(
        self,
        recent: int = 1000,
        flush_interval: float = 0.1,
        sink: Callable[[list[bytes]], None] | None = None,
        max_models: int = 500,
    ) -> None:
        """``sink`` receives each batch of access-log lines (compact JSON); by default they
        go through the ``plano.access`` logger. A short interval keeps each batch small, so a
        flush never holds the event loop for long."""
        self.recent: deque[UsageRecord] = deque(maxlen=recent)
        self.totals = Totals()
        self.by_model: dict[tuple[str, str], Totals] = {}
        self.max_models = max_models
        self._pending: list[UsageRecord] = []
        self._interval = flush_interval
        self._sink = sink
        self._task: asyncio.Task[None] | None = None

    def add(self, r: UsageRecord) -> None:
        self.recent.append(r)
        self.totals.add(r)
        key = (r.provider, r.model)
        t = self.by_model.get(key)
        if t is None:
            if len(self.by_model) >= self.max_models:
                # Wildcards let clients name models: past the cap, new ones roll up under
                # ``provider/*`` so the table (and /plano/v1/usage) stays bounded.
                key = (r.provider, "*")
                t = self.by_model.get(key)
            if t is None:
                t = self.by_model[key] = Totals()
        t.add(r)
        if access_log.isEnabledFor(logging.INFO):
            self._pending.append(r)

    def find(self, request_id: str) -> UsageRecord | None:
        for r in reversed(self.recent):
            if r.request_id == request_id:
                return r
        return None

    def snapshot(self, last: int = 20) -> dict[str, Any]:
        return {
            "totals": self.totals.to_json(),
            "by_model": [
                {"provider": p, "model": m, **t.to_json()} for (p, m), t in self.by_model.items()
            ],
            "recent": [r.to_json() for r in list(self.recent)[-last:]] if last > 0 else [],
            "generated_at": time.time(),
        }

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        # One JSON object per line, so log shippers can parse each record.
        lines = [orjson.dumps(r.to_json()) for r in batch]
        if self._sink is not None:
            self._sink(lines)
            return
        for line in lines:
            access_log.info("%s", line.decode())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()


def stderr_sink(lines: list[bytes]) -> None:
    """Access-log lines straight to stderr in one write: a LogRecord per line cost more than
    the rest of a request's accounting."""
    stream = sys.stderr
    try:
        stream.flush()  # keep order with anything logging wrote before
        stream.buffer.write(b"\n".join(lines) + b"\n")
        stream.buffer.flush()
    except (AttributeError, OSError, ValueError):
        for line in lines:
            access_log.info("%s", line.decode())
