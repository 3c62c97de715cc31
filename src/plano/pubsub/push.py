"""Push delivery: each ``agents[].subscriptions`` entry is a consumer of its topic's group
(``push:<agent id>`` by default) that POSTs every message to one of the agent's healthy
replicas (``endpoints``, round robin) at ``path`` and acknowledges it on a 2xx answer.

A failed delivery (no healthy replica, a connection error, a time-out, a non-2xx answer) is
retried with exponential backoff (``backoff`` doubling, at most 10 s) up to ``max_attempts``;
then the message is published to ``dead-letter.<topic>`` (with the agent and the last error)
and acknowledged. A worker that dies mid-delivery never acknowledged it: the store delivers
it again after its visibility timeout (at least once). With several workers, each runs a
consumer of the same group: a message still goes to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson

from plano.config.agent_run import AgentSubscription
from plano.pubsub.envelope import envelope
from plano.store.protocols import Message, StoreUnavailable, Topics

__all__ = ["DEAD_LETTER_PREFIX", "PushDelivery", "PushStats"]

log = logging.getLogger("plano.pubsub")

DEAD_LETTER_PREFIX = "dead-letter."
_MAX_BACKOFF = 10.0


@dataclass(slots=True)
class PushStats:
    delivered: int = 0
    retries: int = 0
    dead_lettered: int = 0
    last_error: str | None = None
    recent: list[str] = field(default_factory=list)


class PushDelivery:
    """One subscription's consumer task."""

    def __init__(
        self,
        topics: Topics,
        agent_id: str,
        sub: AgentSubscription,
        endpoints: Callable[[str], Sequence[str]],
        *,
        session: aiohttp.ClientSession,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.topics = topics
        self.agent_id = agent_id
        self.sub = sub
        self.group = sub.group or f"push:{agent_id}"
        self._endpoints = endpoints
        self._session = session
        self._sleep = sleep
        self.stats = PushStats()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        consumer = f"{os.getpid()}"
        while True:
            try:
                async for msg in self.topics.subscribe(
                    self.sub.topic, self.group, consumer, block=1.0
                ):
                    await self.deliver(msg)
            except StoreUnavailable as exc:
                self.stats.last_error = str(exc)
                log.warning(
                    "push %s -> %s: store unavailable; retrying", self.sub.topic, self.agent_id
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push %s -> %s failed", self.sub.topic, self.agent_id)
            await asyncio.sleep(1.0)

    async def deliver(self, msg: Message) -> bool:
        """Deliver one message (retrying); acknowledged either way. Whether it arrived."""
        body = orjson.dumps(envelope(msg))
        delay = float(self.sub.backoff)
        error = "not tried"
        for attempt in range(1, self.sub.max_attempts + 1):
            error = await self._attempt(msg, body, attempt)
            if not error:
                self.stats.delivered += 1
                await self.topics.ack(msg.topic, self.group, [msg.id])
                return True
            self.stats.last_error = error
            if attempt < self.sub.max_attempts:
                self.stats.retries += 1
                await self._sleep(delay)  # type: ignore[misc]
                delay = min(_MAX_BACKOFF, delay * 2)
        log.error(
            "push %s #%s -> %s gave up after %d attempts: %s",
            msg.topic,
            msg.id,
            self.agent_id,
            self.sub.max_attempts,
            error,
        )
        self.stats.dead_lettered += 1
        headers = {**msg.headers, "agent": self.agent_id, "error": error, "message-id": msg.id}
        await self.topics.publish(DEAD_LETTER_PREFIX + msg.topic, msg.payload, headers)
        await self.topics.ack(msg.topic, self.group, [msg.id])
        return False

    async def _attempt(self, msg: Message, body: bytes, attempt: int) -> str:
        """Empty when delivered, else why not."""
        urls = self._endpoints(self.agent_id)
        if not urls:
            return f"agent {self.agent_id} has no healthy replica"
        url = urls[0].rstrip("/") + self.sub.path
        headers = {
            "content-type": "application/json",
            "x-plano-topic": msg.topic,
            "x-plano-message-id": msg.id,
            "x-plano-delivery": str(attempt),
        }
        for name in ("traceparent", "x-request-id"):
            if name in msg.headers:
                headers[name] = msg.headers[name]
        timeout = aiohttp.ClientTimeout(total=float(self.sub.timeout))
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as r:
                await r.read()
                if 200 <= r.status < 300:
                    return ""
                return f"{url} answered {r.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{url}: {type(exc).__name__}"
