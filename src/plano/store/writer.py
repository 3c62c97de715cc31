"""The batching writer between the request path and a durable log (the usage log; the audit
trail has a writer of its own).

:meth:`BatchWriter.submit` appends a record to an in-process queue and returns at once: no
request ever waits for the database. One background task writes the queue every ``interval``
seconds, or as soon as ``batch`` records are waiting, ``batch`` records per transaction (a
store's ``append`` ignores request ids it already holds, so a batch retried after an answer
that was lost is not counted twice).

A store that is down or slow does not slow anything else: the records wait in the queue,
the task retries with a backoff (``interval`` doubling up to ``max_backoff``, jittered), and
the store's :class:`~plano.store.health.StoreHealth` says ``degraded``. The queue is bounded
(``max_queue`` records): past it, new records are dropped, counted (:attr:`dropped`) and
logged, at most one line per ``interval``. On shutdown :meth:`close` writes what is left
within a time limit and logs what it could not.

:meth:`pending` finds a record not written yet, so ``GET /plano/v1/requests/{id}`` right after
an answer finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from plano.store.health import StoreHealth
from plano.store.protocols import StoreUnavailable

__all__ = ["BatchWriter", "RecordLog"]

log = logging.getLogger("plano.store")
Record = Mapping[str, Any]


class RecordLog(Protocol):
    """What a writer writes to: a store taking batches of records (the usage log, the
    audit log), ignoring records it already holds."""

    async def append(self, records: Sequence[Record]) -> None: ...


class BatchWriter:
    def __init__(
        self,
        target: RecordLog,
        *,
        name: str = "usage log",
        batch: int = 500,
        interval: float = 0.1,
        max_queue: int = 10_000,
        max_backoff: float = 5.0,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch < 1 or max_queue < 1 or interval <= 0:
            raise ValueError("batch and max_queue must be at least 1 and interval positive")
        self.target = target
        #: What the log lines call the target.
        self.name = name
        self.batch = batch
        self.interval = interval
        self.max_queue = max_queue
        self.max_backoff = max_backoff
        self.health = health
        self._clock = clock
        self._queue: deque[Record] = deque()
        #: Queued records by request id (the newest of an id), for :meth:`pending`.
        self._index: dict[str, Record] = {}
        #: Queued records by the client's request id (``client_request_id``), the newest.
        self._by_client: dict[str, Record] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self.written = 0
        #: Successful appends (one transaction each): ``batches / written`` is the usage
        #: log's statements per request.
        self.batches = 0
        self.dropped = 0
        self.failed_batches = 0
        self.last_error: str | None = None
        self._drops_unlogged = 0
        self._drops_logged_at = -1e18

    # ------------------------------------------------------------------ the request side

    def submit(self, record: Record) -> bool:
        """Queue one record; ``False`` when the queue is full and the record was dropped."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            self._drops_unlogged += 1
            self._log_drops()
            return False
        self._queue.append(record)
        rid = record.get("request_id")
        if isinstance(rid, str):
            self._index[rid] = record
        cid = record.get("client_request_id")
        if isinstance(cid, str):
            self._by_client[cid] = record
        if len(self._queue) >= self.batch and not self._retry_at:
            self._wake.set()
        return True

    def pending(self, request_id: str) -> Record | None:
        """The queued (not yet written) record of ``request_id``, or else the newest queued
        one whose ``client_request_id`` it is."""
        return self._index.get(request_id) or self._by_client.get(request_id)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        return {
            "queued": len(self._queue),
            "max_queue": self.max_queue,
            "written": self.written,
            "batches": self.batches,
            "dropped": self.dropped,
            "failed_batches": self.failed_batches,
            "retrying": bool(self._retry_at),
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ the writing side

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            wait = self.interval
            if self._retry_at:
                wait = max(0.0, self._retry_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            if self._retry_at and self._clock() < self._retry_at:
                continue
            await self.write_queued()
            self._log_drops()

    async def write_queued(self) -> bool:
        """Write the records queued now, ``batch`` per call (and full batches that fill up
        meanwhile); whether they all went. Records that arrive during a write wait for the
        next interval: a slow store gets fewer, bigger batches, not a write after another."""
        left = len(self._queue)
        while self._queue and (left > 0 or len(self._queue) >= self.batch):
            n = min(self.batch, len(self._queue))
            if not await self._write_batch():
                return False
            left -= n
        return True

    async def flush(self, within: float) -> bool:
        """Write what is queued now, within ``within`` seconds (also while backing off: a
        reader asking for totals wants its own worker's records in them); whether it all
        went."""
        try:
            async with asyncio.timeout(within):
                return await self.write_queued()
        except TimeoutError:
            return False

    async def _write_batch(self) -> bool:
        async with self._lock:
            batch = [self._queue[i] for i in range(min(self.batch, len(self._queue)))]
            if not batch:
                return True
            try:
                await self.target.append(batch)
            except StoreUnavailable as exc:
                self._failed(exc)
                return False
            except Exception as exc:  # a record the store cannot take: a bug, not an outage
                log.error("%s refused a batch (%r); writing its records one by one", self.name, exc)
                if not await self._write_one_by_one(batch):
                    return False
            self.batches += 1
            self._done(len(batch))
        return True

    async def _write_one_by_one(self, batch: Sequence[Record]) -> bool:
        for record in batch:
            try:
                await self.target.append([record])
            except StoreUnavailable as exc:
                self._failed(exc)
                return False
            except Exception as exc:
                self.dropped += 1
                log.error("%s record %s dropped: %r", self.name, record.get("request_id"), exc)
        return True

    def _done(self, n: int) -> None:
        for _ in range(n):
            record = self._queue.popleft()
            rid = record.get("request_id")
            if isinstance(rid, str) and self._index.get(rid) is record:
                del self._index[rid]
            cid = record.get("client_request_id")
            if isinstance(cid, str) and self._by_client.get(cid) is record:
                del self._by_client[cid]
        self.written += n
        if self._retry_at:
            log.info("%s is back; writing %d queued record(s)", self.name, len(self._queue))
        self._backoff = self._retry_at = 0.0
        if self.health is not None:
            self.health.up()

    def _failed(self, exc: StoreUnavailable) -> None:
        self.failed_batches += 1
        self.last_error = exc.message
        first = not self._retry_at
        self._backoff = min(self.max_backoff, max(self.interval, self._backoff * 2))
        self._retry_at = self._clock() + self._backoff * random.uniform(0.8, 1.2)
        if self.health is not None:
            self.health.down(exc.message)
        if first:
            log.warning(
                "%s unavailable (%s); %d record(s) queued, retrying with backoff",
                self.name,
                exc.message,
                len(self._queue),
            )

    def _log_drops(self) -> None:
        now = self._clock()
        if not self._drops_unlogged or now - self._drops_logged_at < self.interval:
            return
        log.warning(
            "%s writer: queue full (%d records%s); dropped %d record(s), %d in all",
            self.name,
            self.max_queue,
            f"; {self.last_error}" if self._retry_at and self.last_error else "",
            self._drops_unlogged,
            self.dropped,
        )
        self._drops_unlogged = 0
        self._drops_logged_at = now

    async def close(self, within: float = 10.0) -> int:
        """Stop the task and write what is left within ``within`` seconds (retrying with the
        backoff); returns the records left unwritten (logged)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._queue:
            left = deadline - loop.time()
            if left <= 0 or await self.flush(left):
                break
            await asyncio.sleep(min(max(0.0, self._retry_at - self._clock()), max(0.0, left)))
        self._drops_logged_at = -1e18
        self._log_drops()
        lost = len(self._queue)
        if lost:
            log.error(
                "%s writer: %d record(s) not written at shutdown (%s)",
                self.name,
                lost,
                self.last_error or "time limit",
            )
        return lost
