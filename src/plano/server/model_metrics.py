"""Polling ``model_metrics_sources`` off the hot path (``docs/model-metrics.md``).

One :class:`MetricsPoller` per runtime snapshot in each worker: a task per polled source
fetches every ``refresh_interval`` seconds (bounded by the source's ``timeout``), parses the
answer in a thread (a catalogue is megabytes of JSON) and swaps in a new immutable
:class:`~plano.routing.model_metrics.MetricTable`. A failed fetch keeps the last good values
and is counted; the router reads ``table()`` per decision and never waits for a source. A
catalogue source without a ``url`` is not polled: the bundled offline prices stand in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson

from plano.config.sections import MetricsSource
from plano.routing.model_metrics import (
    PARSERS,
    MetricTable,
    SourceState,
    carried,
    with_state,
)

__all__ = ["DEFAULT_INTERVALS", "MetricsPoller"]

log = logging.getLogger("plano.routing")

#: Seconds between fetches when ``refresh_interval`` is not set (Plano fetches once then).
DEFAULT_INTERVALS = {"cost": 3600.0, "latency": 60.0, "custom": 60.0}
#: A catalogue larger than this is refused (models.dev's is ~2 MB).
MAX_BODY = 32 * 1024 * 1024


def _state(source: MetricsSource) -> SourceState:
    interval = float(source.refresh_interval or DEFAULT_INTERVALS[source.type])
    return SourceState(
        key=source.key,
        kind=source.type,
        provider=source.provider,
        origin=source.url or "bundled",
        interval=interval,
        query=source.query or "",
    )


def _parse(source: MetricsSource, body: bytes) -> dict[str, float]:
    """On a worker thread: JSON decoding and parsing are O(size)."""
    parser = PARSERS[source.provider]
    return parser(orjson.loads(body), source.label, source.model_aliases)


class MetricsPoller:
    """The current values of every source (:meth:`table`, :meth:`status`: the router's
    :class:`~plano.routing.model_metrics.MetricsView`) and the tasks keeping them fresh."""

    def __init__(
        self,
        sources: Sequence[MetricsSource],
        *,
        previous: MetricTable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = list(sources)
        self._clock = clock
        self._table = carried([_state(s) for s in self.sources], previous)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._told: set[str] = set()

    def table(self) -> MetricTable:
        return self._table

    def status(self) -> list[dict[str, Any]]:
        return self._table.status(self._clock())

    async def start(self) -> None:
        polled = [s for s in self.sources if s.url is not None]
        if not polled:
            return
        # One session for every source; no cookies, no redirects beyond the default few.
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False
        )
        for source in polled:
            self._tasks.append(
                asyncio.create_task(self._poll(source), name=f"metrics:{source.key}")
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _poll(self, source: MetricsSource) -> None:
        state = self._table.sources[source.key]
        # A reload that carried fresh values waits for the next due time, not a new fetch.
        if state.updated is not None:
            due = state.updated + state.interval - self._clock()
            if due > 0:
                await asyncio.sleep(due)
        while True:
            await self.refresh(source)
            await asyncio.sleep(self._table.sources[source.key].interval)

    async def refresh(self, source: MetricsSource) -> SourceState:
        """One fetch of ``source``; its new state (values replaced, or kept on failure)."""
        try:
            values = await self._fetch(source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # down, slow, unparsable: keep the last good values
            return self._failed(source, exc)
        state = self._table.sources[source.key].succeeded(values, self._clock())
        self._table = with_state(self._table, state)
        self._told.discard(source.key)
        return state

    async def _fetch(self, source: MetricsSource) -> dict[str, float]:
        assert source.url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        url, params = source.url, None
        if source.provider == "prometheus":
            url = source.url.rstrip("/") + "/api/v1/query"
            params = {"query": source.query or ""}
        timeout = aiohttp.ClientTimeout(total=source.timeout)
        async with self._session.get(url, params=params, timeout=timeout) as resp:
            body = await resp.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise ValueError(f"answer larger than {MAX_BODY} bytes")
            # Prometheus answers query errors as JSON with status "error": the parser says
            # those; anything else that failed is named by its status.
            json_error = source.provider == "prometheus" and body.lstrip().startswith(b"{")
            if resp.status >= 400 and not json_error:
                raise ValueError(f"HTTP {resp.status}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _parse, source, body)

    def _failed(self, source: MetricsSource, exc: Exception) -> SourceState:
        why = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            why = f"timed out after {source.timeout:g}s"
        state = self._table.sources[source.key].failed(why, self._clock())
        self._table = with_state(self._table, state)
        if source.key not in self._told:  # once per outage, not once per poll
            self._told.add(source.key)
            kept = (
                f"keeping {len(state.values)} last good value(s)"
                if state.usable
                else ("no values yet: routing uses the gateway's own latencies and prices")
            )
            log.warning("metrics source %r failed (%s); %s", source.key, why, kept)
        return state
