"""Work that follows a request (budget settlements, output tokens added to windows), run off
the request's task by one drainer: what is queued while it works is run as the next batch,
concurrently (one round trip's wait for a batch, not one per request), so a burst costs one
task rather than one each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["Background"]

log = logging.getLogger("plano.limits")


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: list[Coroutine[Any, Any, None]] = []
        self._drainer: asyncio.Task[None] | None = None

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        self._pending.append(work)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                if len(batch) == 1:
                    results: list[BaseException | None] = [None]
                    try:
                        await batch[0]
                    except Exception as exc:
                        results = [exc]
                else:
                    results = await asyncio.gather(*batch, return_exceptions=True)
                for r in results:
                    if isinstance(r, Exception):
                        log.error("%s: background work failed: %r", self.name, r, exc_info=r)
        finally:
            self._drainer = None

    @property
    def busy(self) -> bool:
        return self._drainer is not None

    async def wait(self) -> None:
        """Until everything queued so far (and queued meanwhile) has run."""
        while self._drainer is not None:
            await asyncio.shield(self._drainer)
