"""The message sources behind an SSE subscription.

* group mode (``?group=``): the store's consumer group: each message to one subscriber of the
  group, at least once; a message not acknowledged within the store's visibility timeout is
  delivered again, and a subscriber that comes back after a restart gets what was published
  meanwhile (the group keeps its position).
* offset mode (no group): every message after an offset (``Last-Event-ID`` or ``?after=``;
  ``after=0``: from the oldest kept; none: from now), then new ones as they come. The store's
  ``replay`` is polled (50 ms after a message, backing off to 500 ms when idle, at once when
  this process publishes to the topic), so the subscriber resumes exactly after the last
  event it saw.

Both run as a pump task filling a small queue, so the HTTP handler can send heartbeats and
notice a drain while the store waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from plano.store.protocols import Message, StoreUnavailable, Topics

__all__ = ["Pump", "last_id"]

log = logging.getLogger("plano.pubsub")

_IDLE_MIN = 0.05
_IDLE_MAX = 0.5


async def last_id(topics: Topics, topic: str) -> str | None:
    """The newest message's id (``None``: empty topic): where "from now" starts. One small
    store read (not a replay of the whole topic, payloads and all)."""
    return await topics.last_id(topic)


class Pump:
    """Fills :attr:`queue` from a group subscription or an offset tail; ``None`` in the queue
    marks the end (the store went away)."""

    def __init__(
        self,
        topics: Topics,
        topic: str,
        queue_size: int = 16,
        wake: asyncio.Event | None = None,
    ) -> None:
        """``wake``: set by this process's publishes to the topic, so an offset tail polls at
        once instead of after its idle wait (other processes' publishes wait for the poll)."""
        self.topics = topics
        self.topic = topic
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._wake = wake or asyncio.Event()

    def start_group(self, group: str, consumer: str) -> None:
        self._task = asyncio.get_running_loop().create_task(self._group(group, consumer))

    def start_tail(self, after: str | None, *, from_now: bool) -> None:
        """After ``after`` (``None``: from the oldest kept, or from now with ``from_now``)."""
        self._task = asyncio.get_running_loop().create_task(self._tail(after, from_now))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _group(self, group: str, consumer: str) -> None:
        messages: AsyncIterator[Message] = self.topics.subscribe(
            self.topic, group, consumer, block=1.0
        )
        try:
            async for msg in messages:
                await self.queue.put(msg)
        except StoreUnavailable as exc:
            log.warning("subscription to %s ended: %s", self.topic, exc)
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()  # type: ignore[attr-defined]
            await self.queue.put(None)

    async def _tail(self, after: str | None, from_now: bool) -> None:
        try:
            if from_now:
                after = await last_id(self.topics, self.topic)
            idle = _IDLE_MIN
            while True:
                got = False
                async for msg in self.topics.replay(self.topic, after=after, limit=500):
                    await self.queue.put(msg)
                    after, got = msg.id, True
                idle = _IDLE_MIN if got else min(_IDLE_MAX, idle * 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle)
                self._wake.clear()
        except StoreUnavailable as exc:
            log.warning("subscription to %s ended: %s", self.topic, exc)
        finally:
            await self.queue.put(None)
