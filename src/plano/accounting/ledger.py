"""The usage ledger: one :class:`UsageRecord` per request, kept in the usage log
(:class:`~plano.store.protocols.UsageLog`: SQLite or PostgreSQL, shared by every worker and
replica on the same store) and written as an access-log line.

Records arrive from ``on_complete`` (off the request's task). The usage log is written by a
:class:`~plano.store.writer.BatchWriter`; access-log lines are written in batches by one
background task, so neither sits on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson

from plano.core.model import Usage
from plano.store.protocols import UsageLog, UsageQuery
from plano.store.writer import BatchWriter

__all__ = ["Ledger", "UsageRecord", "UsageSink", "stderr_sink"]

access_log = logging.getLogger("plano.access")
_OPTIONAL = (
    "client_request_id",
    "session",
    "key_id",
    "user_id",
    "team",
    "tenant",
    "agent",
    "route",
    "trace_id",
)


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
    session: str | None = None
    #: Cost attribution: the virtual key's id and its principal's user, team and tenant; the
    #: agent; the routing rule or route; the trace.
    key_id: str | None = None
    user_id: str | None = None
    team: str | None = None
    tenant: str | None = None
    agent: str | None = None
    route: str | None = None
    trace_id: str | None = None
    #: The client's ``x-request-id`` (``request_id`` is the gateway's own, always unique).
    client_request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        u = self.usage
        out: dict[str, Any] = {
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
        # Only what a record carries: the access log's lines keep their keys otherwise.
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class UsageSink(Protocol):
    """Where the accounting filter sends each request's record (the :class:`Ledger`)."""

    def add(self, r: UsageRecord) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Ledger:
    """The ledger on the usage log: each request's record is queued for the usage log (the
    batching writer writes it, off the request path) and for the access log; queries read
    the usage log, so every worker and replica on the same store gives the same answer.

    ``sink`` receives each batch of access-log lines (compact JSON); by default they go
    through the ``plano.access`` logger. A short interval keeps each batch small, so a flush
    never holds the event loop for long. Without a ``writer``, the ledger makes and runs its
    own (tests, embedders); a given writer is started and closed by its owner.
    """

    def __init__(
        self,
        usage: UsageLog,
        writer: BatchWriter | None = None,
        flush_interval: float = 0.1,
        sink: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        self.usage = usage
        self._own_writer = writer is None
        self.writer = writer if writer is not None else BatchWriter(usage)
        self._pending: list[dict[str, Any]] = []
        self._interval = flush_interval
        self._sink = sink
        self._task: asyncio.Task[None] | None = None

    def add(self, r: UsageRecord) -> None:
        record = r.to_json()
        self.writer.submit(record)
        if access_log.isEnabledFor(logging.INFO):
            self._pending.append(record)

    async def find(self, request_id: str) -> dict[str, Any] | None:
        """A request's record, by the gateway's id or else the client's (its newest record):
        still queued in this process, or from the usage log."""
        queued = self.writer.pending(request_id)
        if queued is not None:
            return dict(queued)
        return await self.usage.find(request_id)

    async def report(
        self, q: UsageQuery, group_by: Sequence[str] = (), *, flush_within: float = 1.0
    ) -> dict[str, Any]:
        """``GET /plano/v1/usage``: totals (overall, by provider and model, by ``group_by``)
        over the records ``q`` selects, and a page of them, newest first. This process's
        queued records are written first, so a request it just answered is counted."""
        await self.writer.flush(flush_within)
        (total,) = await self.usage.totals(q)  # no grouping: always one row
        by_model = await self.usage.totals(q, ("provider", "model"))
        page = await self.usage.query(q)
        out: dict[str, Any] = {
            "totals": total,
            "by_model": by_model,
            "recent": page.records,
            "next": page.next,
        }
        if group_by:
            out["groups"] = await self.usage.totals(q, group_by)
        out["queued"] = self.writer.queued
        out["generated_at"] = time.time()
        return out

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        # One JSON object per line, so log shippers can parse each record.
        lines = [orjson.dumps(r) for r in batch]
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
        if self._own_writer:
            await self.writer.start()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        if self._own_writer:
            await self.writer.close()


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
