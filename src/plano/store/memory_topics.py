"""Topics in one process's memory: consumer groups with at-least-once delivery.

Each topic keeps its last ``max_messages`` messages (default 10,000; the oldest goes first,
even when a group has not read it yet, as a Redis stream trimmed with ``MAXLEN`` does). A group
keeps its read position and its pending messages (delivered, not acknowledged); a pending
message whose ``visibility`` timeout passed goes to the next consumer that polls, with its
delivery count raised. Ids are decimal sequence numbers, ``"1"``, ``"2"``...
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from plano.store.common import parse_seq_id
from plano.store.protocols import Message

__all__ = ["MemoryTopics"]


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int


@dataclass(slots=True)
class _Group:
    last: int
    pending: dict[int, _Pending] = field(default_factory=dict)
    consumers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Topic:
    messages: OrderedDict[int, Message] = field(default_factory=OrderedDict)
    next_seq: int = 1
    groups: dict[str, _Group] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryTopics:
    """:class:`~plano.store.protocols.Topics` for one process."""

    def __init__(
        self,
        *,
        visibility: float = 30.0,
        max_messages: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.visibility = visibility
        self.max_messages = max_messages
        self._clock = clock
        self._topics: dict[str, _Topic] = {}
        self._closed = asyncio.Event()

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    async def publish(
        self, topic: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> str:
        t = self._topic(topic)
        seq = t.next_seq
        t.next_seq += 1
        t.messages[seq] = Message(topic, str(seq), bytes(payload), 1, dict(headers or {}))
        while len(t.messages) > self.max_messages:
            t.messages.popitem(last=False)
        t.changed.set()
        t.changed = asyncio.Event()
        return str(seq)

    def _take(self, t: _Topic, group: _Group, consumer: str) -> Message | None:
        """The next message for ``consumer``: an expired pending one first, else a new one."""
        now = self._clock()
        for seq, p in list(group.pending.items()):
            if p.delivered_at + self.visibility > now:
                continue
            msg = t.messages.get(seq)
            if msg is None:  # trimmed away while pending
                del group.pending[seq]
                continue
            p.consumer, p.delivered_at, p.deliveries = consumer, now, p.deliveries + 1
            return Message(msg.topic, msg.id, msg.payload, p.deliveries, msg.headers)
        first = next(iter(t.messages), t.next_seq)
        seq = max(group.last + 1, first)
        msg = t.messages.get(seq)
        if msg is None:
            return None
        group.last = seq
        group.pending[seq] = _Pending(consumer, now, 1)
        return msg

    def _next_wake(self, group: _Group, block: float) -> float:
        if not group.pending:
            return block
        oldest = min(p.delivered_at for p in group.pending.values())
        return max(0.0, min(block, oldest + self.visibility - self._clock()))

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, block: float = 5.0
    ) -> AsyncIterator[Message]:
        block = max(block, 0.01)  # 0 would spin
        t = self._topic(topic)
        g = t.groups.get(group)
        if g is None:
            g = t.groups[group] = _Group(t.next_seq - 1)
        g.consumers.add(consumer)
        while not self._closed.is_set():
            msg = self._take(t, g, consumer)
            if msg is not None:
                yield msg
                continue
            changed = t.changed
            waiters = [
                asyncio.ensure_future(changed.wait()),
                asyncio.ensure_future(self._closed.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters, timeout=self._next_wake(g, block), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()

    async def ack(self, topic: str, group: str, ids: Sequence[str]) -> None:
        seqs = [parse_seq_id(i) for i in ids]  # all checked before any is acknowledged
        t = self._topics.get(topic)
        g = t.groups.get(group) if t is not None else None
        if g is not None:
            for seq in seqs:
                g.pending.pop(seq, None)

    async def last_id(self, topic: str) -> str | None:
        t = self._topics.get(topic)
        if t is None or not t.messages:
            return None
        return str(next(reversed(t.messages)))

    async def members(self, topic: str) -> dict[str, frozenset[str]]:
        t = self._topics.get(topic)
        if t is None:
            return {}
        return {name: frozenset(g.consumers) for name, g in t.groups.items()}

    async def release(self, topic: str, group: str, consumer: str) -> bool:
        t = self._topics.get(topic)
        g = t.groups.get(group) if t is not None else None
        if g is None or any(p.consumer == consumer for p in g.pending.values()):
            return g is None
        g.consumers.discard(consumer)
        return True

    async def replay(
        self, topic: str, after: str | None = None, limit: int = 1000
    ) -> AsyncIterator[Message]:
        start = 0 if after is None else parse_seq_id(after)
        t = self._topics.get(topic)
        if t is None:
            return
        batch = [m for seq, m in t.messages.items() if seq > start][:limit]
        for msg in batch:
            yield msg

    async def close(self) -> None:
        self._closed.set()
