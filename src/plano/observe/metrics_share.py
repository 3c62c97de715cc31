"""Metrics across the workers of one ``plano up``: one scrape sees them all.

Each worker keeps its own counters (updated with no locks or IO) and, every
``metrics.publish_interval``, writes a snapshot of them to its own file in a directory the
supervisor made for this run (``<pid>-<start>.json``, written whole and renamed into
place). Whichever worker takes a scrape adds its live values to the other files. So:

* another worker's part of a scrape is at most one interval old (plus the scrape's read);
* a worker that dies keeps its last file: its counters stay in the totals and the worker
  that replaces it starts a file of its own, so totals neither reset nor count twice (what
  a killed worker counted after its last publish is lost: at most one interval);
* a dead worker's gauges (in-flight requests) are dropped once its file is older than three
  intervals;
* with one worker there is no directory, no file and no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from plano.observe.metrics import Labels, Snapshot, merge
from plano.observe.metrics_gateway import GatewayMetrics
from plano.observe.metrics_window import Buckets, Window, merge_windows

__all__ = ["Merged", "MetricsShare"]

log = logging.getLogger("plano.metrics")


class Merged:
    """Every process's values, merged: ``values`` per family, ``window`` buckets."""

    __slots__ = ("processes", "values", "window")

    def __init__(
        self, values: dict[str, dict[Labels, Any]], window: Buckets, processes: int
    ) -> None:
        self.values = values
        self.window = window
        self.processes = processes


class MetricsShare:
    """Publishes this process's snapshot and merges the others' (``directory`` ``None``:
    this process alone)."""

    def __init__(
        self, metrics: GatewayMetrics, directory: Path | None, interval: float = 1.0
    ) -> None:
        self.metrics = metrics
        self.directory = directory
        self.interval = interval
        self._file = f"{os.getpid()}-{time.time_ns()}.json"
        self._task: asyncio.Task[None] | None = None
        #: Publishes that failed (a full disk, a removed directory), for ``/plano/v1/status``.
        self.failures = 0

    def share_with(self, directory: Path | None, interval: float) -> None:
        """Publish to ``directory`` every ``interval`` seconds (set before :meth:`start`)."""
        self.directory = directory
        self.interval = interval

    @property
    def stale_s(self) -> float:
        return self.interval if self.directory is not None else 0.0

    async def start(self) -> None:
        if self.directory is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self.publish()  # what this worker counted up to its end

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.publish()

    async def publish(self) -> None:
        if self.directory is None:
            return
        data = orjson.dumps(self.metrics.snapshot())
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _write, self.directory, self._file, data)
        except OSError as exc:
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("metrics snapshot not written (%d so far): %r", self.failures, exc)

    async def others(self) -> list[Snapshot]:
        """The other processes' last snapshots."""
        if self.directory is None:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _read_all, self.directory, self._file)

    async def merged(self, now: float | None = None) -> Merged:
        """Every process's values (scrape-time collectors run first)."""
        registry = self.metrics.registry
        await registry.collect_async()
        others = await self.others()
        self.metrics.processes.set((), 1 + len(others))
        own = self.metrics.snapshot()
        after = (time.time() if now is None else now) - 3 * self.interval
        values = merge(registry, others, own=own, gauges_after=after)
        windows = [Window.load(own.get("window", ()))]
        windows += [Window.load(s.get("window", ())) for s in others]
        return Merged(values, merge_windows(windows), 1 + len(others))


def _write(directory: Path, name: str, data: bytes) -> None:
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, directory / name)


def _read_all(directory: Path, own: str) -> list[Snapshot]:
    out: list[Snapshot] = []
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json") and n != own]
    except OSError:
        return out
    for name in names:
        try:
            snap = orjson.loads((directory / name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # removed meanwhile, or not a snapshot
        if isinstance(snap, dict):
            out.append(snap)
    return out
