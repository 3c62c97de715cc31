"""Counters and key-value on Redis, for several replicas (see :mod:`plano.store.redis_lua` for
the counters' key layout and scripts, :mod:`plano.store.redis_link` for timeouts and
reconnection).

Every counters operation is one round trip: ``reserve`` one script over all its keys
(all-or-nothing), ``settle`` and ``release`` one script each, ``add``, ``get``, ``window`` and
``windows`` (any number of keys) one script each. Key-value: ``GET``, ``MGET`` (one round trip
for ``get_many``), ``SET ... PX``, ``DEL``; ``scan`` walks the keyspace with ``SCAN MATCH
prefix*`` then reads the values with one ``MGET`` (admin views: it costs a walk of the whole
keyspace).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from plano.store.common import SETTLED_MEMORY, new_reservation_id
from plano.store.protocols import Reservation, WindowDecision
from plano.store.redis_link import RedisLink
from plano.store.redis_lua import ADD, FINISH, GET, RESERVE, WINDOW, WINDOWS

__all__ = ["RedisCounters", "RedisKeyValue"]


def _num(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"not a finite amount: {x!r}")
    return repr(float(x))


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisCounters:
    """:class:`~plano.store.protocols.Counters` on Redis."""

    def __init__(self, url: str, *, prefix: str = "", **link: Any) -> None:
        self._link = RedisLink(url, prefix=prefix, **link)
        client = self._link.client
        self._reserve = client.register_script(RESERVE)
        self._finish = client.register_script(FINISH)
        self._add = client.register_script(ADD)
        self._get = client.register_script(GET)
        self._window = client.register_script(WINDOW)
        self._windows = client.register_script(WINDOWS)

    def _keys(self, key: str) -> list[str]:
        return [self._link.key("c", key), self._link.key("e", key)]

    async def reserve(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], ttl: float = 600.0
    ) -> Reservation | None:
        rid = new_reservation_id()
        keys: list[str] = []
        args: list[str] = [rid, _num(ttl)]
        for key, amount in amounts.items():
            keys += self._keys(key)
            limit = limits.get(key)
            args += [_num(amount), "" if limit is None else _num(limit)]
        script = self._reserve
        expires = await self._link.call(lambda _: script(keys, args))
        if expires is None:
            return None
        return Reservation(rid, dict(amounts), float(expires))

    async def _end(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        names = list(dict.fromkeys([*reservation.amounts, *actual]))
        remember = max(reservation.expires_at - time.time(), 0.0) + SETTLED_MEMORY
        keys = [self._link.key("d", reservation.id)]
        args = [reservation.id, str(math.ceil(remember * 1000))]
        for name in names:
            keys += self._keys(name)
            args.append(_num(actual[name]) if name in actual else "")
        script = self._finish
        await self._link.call(lambda _: script(keys, args))

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        await self._end(reservation, actual)

    async def release(self, reservation: Reservation) -> None:
        await self._end(reservation, {})

    async def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        keys = self._keys(key)
        args = [_num(amount), "" if ttl is None else _num(ttl)]
        script = self._add
        return float(await self._link.call(lambda _: script(keys, args)))

    async def get(self, key: str) -> tuple[float, float]:
        keys = self._keys(key)
        script = self._get
        used, held = await self._link.call(lambda _: script(keys, []))
        return float(used), float(held)

    async def window(self, key: str, amount: float, limit: float, window: float) -> WindowDecision:
        keys = [self._link.key("w", key)]
        args = [_num(amount), _num(limit), _num(window)]
        script = self._window
        allowed, count, remaining, retry = await self._link.call(lambda _: script(keys, args))
        return WindowDecision(bool(allowed), float(count), float(remaining), float(retry))

    async def windows(
        self, checks: Sequence[tuple[str, float, float, float]]
    ) -> list[WindowDecision]:
        if not checks:
            return []
        keys = [self._link.key("w", key) for key, _, _, _ in checks]
        args = [_num(x) for _, amount, limit, window in checks for x in (amount, limit, window)]
        script = self._windows
        answers = await self._link.call(lambda _: script(keys, args))
        return [
            WindowDecision(bool(allowed), float(count), float(remaining), float(retry))
            for allowed, count, remaining, retry in answers
        ]

    async def close(self) -> None:
        await self._link.close()


class RedisKeyValue:
    """:class:`~plano.store.protocols.KeyValue` on Redis (keys ``<prefix>k:<key>``)."""

    def __init__(self, url: str, *, prefix: str = "", **link: Any) -> None:
        self._link = RedisLink(url, prefix=prefix, **link)
        self._head = self._link.key("k", "")

    async def get(self, key: str) -> bytes | None:
        k = self._head + key
        return cast("bytes | None", await self._link.call(lambda r: r.get(k)))

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        names = list(dict.fromkeys(keys))
        if not names:
            return {}
        full = [self._head + k for k in names]
        values = cast("list[bytes | None]", await self._link.call(lambda r: r.mget(full)))
        return {k: v for k, v in zip(names, values, strict=True) if v is not None}

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        k = self._head + key
        if ttl is not None and ttl <= 0:
            await self._link.call(lambda r: r.delete(k))
            return
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await self._link.call(lambda r: r.set(k, value, px=px))

    async def delete(self, key: str) -> bool:
        k = self._head + key
        return bool(await self._link.call(lambda r: r.delete(k)))

    async def scan(self, prefix: str, limit: int = 1000) -> dict[str, bytes]:
        pattern = _glob_escape(self._head + prefix) + "*"
        n = len(self._head)

        async def walk(r: Redis) -> dict[str, bytes]:
            found: set[bytes] = set()
            cursor = 0
            while True:
                cursor, batch = await r.scan(cursor, match=pattern, count=1000)
                found.update(cast("list[bytes]", batch))
                if cursor == 0 or len(found) >= limit:
                    break
            names = sorted(found)[:limit]
            if not names:
                return {}
            values = cast("list[bytes | None]", await r.mget(names))
            return {k.decode()[n:]: v for k, v in zip(names, values, strict=True) if v is not None}

        return await self._link.call(walk)

    async def close(self) -> None:
        await self._link.close()
