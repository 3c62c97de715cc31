"""Topics on Redis Streams with consumer groups (key ``<prefix>t:<topic>``).

* ``publish``: ``XADD ... MAXLEN ~ max_messages`` (default 100,000 per topic, trimmed
  approximately, oldest first). Fields: ``p`` the payload, ``h.<name>`` each header.
* ``subscribe``: creates the group at the stream's end (``XGROUP CREATE ... $ MKSTREAM``) on
  its first poll, then loops: every ``claim_every`` seconds (a quarter of the visibility
  timeout, between 50 ms and 1 s) one script claims a message pending longer than
  ``visibility`` (``XAUTOCLAIM``; its delivery count comes back with it); otherwise one
  ``XREADGROUP ... COUNT 1 BLOCK`` on the blocking connection pool. One message per read: a
  message is never buffered in a consumer while its visibility timeout runs.
* ``ack``: one ``XACK`` naming every id; ``replay``: ``XRANGE (after + COUNT limit``;
  ``last_id``: ``XREVRANGE + - COUNT 1``; ``members``: ``XINFO GROUPS`` then ``XINFO
  CONSUMERS`` of each group (pipelined); ``release``: ``XGROUP DELCONSUMER`` once the
  consumer holds nothing pending.

A subscription whose Redis goes away raises :class:`StoreUnavailable`; subscribe again.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from plano.store.protocols import Message, StoreUnavailable
from plano.store.redis_link import MAX_BLOCK, RedisLink
from plano.store.redis_lua import CLAIM

__all__ = ["RedisTopics"]

_ID = re.compile(r"\d+(-\d+)?")


def _message(
    topic: str, mid: bytes | str, fields: Mapping[bytes, bytes], deliveries: int
) -> Message:
    headers = {k[2:].decode(): v.decode() for k, v in fields.items() if k.startswith(b"h.")}
    mid = mid.decode() if isinstance(mid, bytes) else mid
    return Message(topic, mid, bytes(fields.get(b"p", b"")), deliveries, headers)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisTopics:
    """:class:`~plano.store.protocols.Topics` on Redis Streams."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        visibility: float = 30.0,
        max_messages: int = 100_000,
        **link: Any,
    ) -> None:
        self._link = RedisLink(url, prefix=prefix, **link)
        self.visibility = visibility
        self.max_messages = max_messages
        self.claim_every = min(1.0, max(0.05, visibility / 4))
        self._claim = self._link.client.register_script(CLAIM)

    def _key(self, topic: str) -> str:
        return self._link.key("t", topic)

    async def publish(
        self, topic: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> str:
        fields: dict[str | bytes, bytes | str] = {"p": bytes(payload)}
        for name, value in (headers or {}).items():
            fields["h." + name] = value
        key, cap = self._key(topic), self.max_messages
        mid = await self._link.call(
            lambda r: r.xadd(key, fields, maxlen=cap, approximate=True)  # type: ignore[arg-type]
        )
        return mid.decode() if isinstance(mid, bytes) else str(mid)

    async def _ensure_group(self, key: str, group: str) -> None:
        async def create(r: Redis) -> None:
            try:
                await r.xgroup_create(key, group, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._link.call(create)

    async def _claim_one(
        self, topic: str, key: str, group: str, consumer: str, cursor: str
    ) -> tuple[str, Message | None]:
        args = [group, consumer, str(int(self.visibility * 1000)), cursor]
        script = self._claim
        reply = await self._link.call(lambda _: script([key], args))
        nxt = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        if len(reply) == 1:
            return nxt, None
        return nxt, _message(topic, reply[1], _pairs(reply[2]), int(reply[3]))

    async def _read(
        self, topic: str, key: str, group: str, consumer: str, wait: float
    ) -> Message | None:
        ms = max(1, int(min(wait, MAX_BLOCK) * 1000))

        async def read(r: Redis) -> Any:
            try:
                return await r.xreadgroup(group, consumer, {key: ">"}, count=1, block=ms)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                return None  # the stream or group was deleted: created again below

        reply = await self._link.call(read, blocking=True)
        if reply is None:
            await self._ensure_group(key, group)
            return None
        for _stream, entries in reply:
            for mid, fields in entries:
                return _message(topic, mid, fields, 1)
        return None

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, block: float = 5.0
    ) -> AsyncIterator[Message]:
        block = max(block, 0.01)  # 0 would spin
        key = self._key(topic)
        try:
            await self._ensure_group(key, group)
            cursor, next_claim = "0-0", 0.0
            while True:
                now = time.monotonic()
                if now >= next_claim:
                    cursor, msg = await self._claim_one(topic, key, group, consumer, cursor)
                    if msg is not None:
                        yield msg
                        continue
                    next_claim = now + self.claim_every
                wait = min(block, max(0.0, next_claim - time.monotonic()))
                msg = await self._read(topic, key, group, consumer, wait)
                if msg is not None:
                    yield msg
        except StoreUnavailable:
            if self._link.closed:
                return
            raise

    async def ack(self, topic: str, group: str, ids: Sequence[str]) -> None:
        for message_id in ids:
            if not _ID.fullmatch(message_id):
                raise ValueError(f"not a stream id: {message_id!r}")
        if not ids:
            return
        key = self._key(topic)
        await self._link.call(lambda r: r.xack(key, group, *ids))

    async def last_id(self, topic: str) -> str | None:
        key = self._key(topic)
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await self._link.call(lambda r: r.xrevrange(key, "+", "-", count=1)),
        )
        return _text(entries[0][0]) if entries else None

    async def members(self, topic: str) -> dict[str, frozenset[str]]:
        key = self._key(topic)

        async def read(r: Redis) -> dict[str, frozenset[str]]:
            try:
                groups = [_text(g["name"]) for g in await r.xinfo_groups(key)]
            except ResponseError as exc:
                if "no such key" not in str(exc).lower():
                    raise
                return {}
            if not groups:
                return {}
            pipe = r.pipeline(transaction=False)
            for name in groups:
                pipe.xinfo_consumers(key, name)
            replies = await pipe.execute()
            return {
                name: frozenset(_text(c["name"]) for c in consumers)
                for name, consumers in zip(groups, replies, strict=True)
            }

        return await self._link.call(read)

    async def release(self, topic: str, group: str, consumer: str) -> bool:
        key = self._key(topic)

        async def drop(r: Redis) -> bool:
            try:
                consumers = await r.xinfo_consumers(key, group)
            except ResponseError:  # no stream or no group: nothing to forget
                return True
            for c in consumers:
                if _text(c["name"]) == consumer:
                    if int(c.get("pending", 0)):
                        return False  # its messages must stay claimable
                    await r.xgroup_delconsumer(key, group, consumer)
            return True

        return await self._link.call(drop)

    async def replay(
        self, topic: str, after: str | None = None, limit: int = 1000
    ) -> AsyncIterator[Message]:
        if after is not None and not _ID.fullmatch(after):
            raise ValueError(f"not a stream id: {after!r}")
        key = self._key(topic)
        start = "-" if after is None else "(" + after
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await self._link.call(lambda r: r.xrange(key, start, "+", count=limit)),
        )
        for mid, fields in entries:
            yield _message(topic, mid, fields, 1)

    async def close(self) -> None:
        await self._link.close()
