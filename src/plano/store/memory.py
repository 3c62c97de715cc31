"""Counters and key-value in one process's memory (the default of a single-process gateway).

Every operation runs to completion without awaiting, so the event loop makes it atomic; no
locks. Both stores are bounded (the caps are constructor arguments):

* :class:`MemoryCounters`: ``max_keys`` counter keys (default 100,000) and as many window
  keys; ``max_reservations`` live reservations (default 100,000). When a new key would pass
  the cap, expired keys are dropped first, then the least recently written key (forgetting its
  spend: budgets that must never be forgotten belong in SQLite or Redis). A reserve beyond
  ``max_reservations`` live holds raises :class:`StoreUnavailable` (fails closed).
* :class:`MemoryKeyValue`: ``max_keys`` keys (default 100,000); expired keys go first, then
  the least recently written or read.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from plano.store.common import (
    SETTLED_MEMORY,
    WindowState,
    fits,
    new_reservation_id,
    window_decide,
)
from plano.store.protocols import Reservation, StoreUnavailable, WindowDecision

__all__ = ["MemoryCounters", "MemoryKeyValue"]

Clock = Callable[[], float]


@dataclass(slots=True)
class _Used:
    used: float
    expires_at: float | None


class MemoryCounters:
    """:class:`~plano.store.protocols.Counters` for one process."""

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        max_reservations: int = 100_000,
        clock: Clock = time.time,
    ) -> None:
        self.max_keys = max_keys
        self.max_reservations = max_reservations
        self._clock = clock
        self._used: OrderedDict[str, _Used] = OrderedDict()
        #: key -> [held sum, number of holds]; the entry goes when its last hold goes, so
        #: float drift never outlives the holds.
        self._held: dict[str, list[float]] = {}
        self._live: dict[str, Reservation] = {}
        self._expiry: list[tuple[float, str]] = []
        self._settled: dict[str, float] = {}
        self._settled_order: list[tuple[float, str]] = []
        self._windows: OrderedDict[str, WindowState] = OrderedDict()

    # -- internals

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, rid = heapq.heappop(self._expiry)
            res = self._live.pop(rid, None)
            if res is not None:
                self._unhold(res)
        while self._settled_order and self._settled_order[0][0] <= now:
            _, rid = heapq.heappop(self._settled_order)
            self._settled.pop(rid, None)

    def _unhold(self, res: Reservation) -> None:
        for key, amount in res.amounts.items():
            entry = self._held.get(key)
            if entry is None:
                continue
            entry[0] -= amount
            entry[1] -= 1
            if entry[1] <= 0:
                del self._held[key]

    def _used_of(self, key: str, now: float) -> float:
        entry = self._used.get(key)
        if entry is None:
            return 0.0
        if entry.expires_at is not None and entry.expires_at <= now:
            del self._used[key]
            return 0.0
        return entry.used

    def _make_room(self, table: OrderedDict[str, _Used] | OrderedDict[str, WindowState]) -> None:
        if len(table) < self.max_keys:
            return
        now = self._clock()
        if table is self._used:
            for key in [k for k, v in self._used.items() if v.expires_at and v.expires_at <= now]:
                del self._used[key]
        while len(table) >= self.max_keys:
            table.popitem(last=False)

    def _spend(self, key: str, amount: float, now: float, ttl: float | None) -> float:
        used = self._used_of(key, now) + amount
        entry = self._used.get(key)
        if entry is None:
            self._make_room(self._used)
            entry = self._used[key] = _Used(used, None)
        else:
            entry.used = used
            self._used.move_to_end(key)
        if ttl is not None:
            entry.expires_at = now + ttl
        return used

    def _forget_later(self, res: Reservation, now: float) -> None:
        forget_at = max(res.expires_at, now) + SETTLED_MEMORY
        self._settled[res.id] = forget_at
        heapq.heappush(self._settled_order, (forget_at, res.id))

    # -- the protocol

    async def reserve(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], ttl: float = 600.0
    ) -> Reservation | None:
        now = self._clock()
        self._expire(now)
        for key, amount in amounts.items():
            limit = limits.get(key)
            held = self._held.get(key, (0.0, 0))[0]
            if limit is not None and not fits(self._used_of(key, now), held, amount, limit):
                return None
        if len(self._live) >= self.max_reservations:
            raise StoreUnavailable("too many budget reservations held at once")
        res = Reservation(new_reservation_id(), dict(amounts), now + ttl)
        for key, amount in amounts.items():
            entry = self._held.setdefault(key, [0.0, 0])
            entry[0] += amount
            entry[1] += 1
        self._live[res.id] = res
        heapq.heappush(self._expiry, (res.expires_at, res.id))
        return res

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        now = self._clock()
        self._expire(now)
        if reservation.id in self._settled:
            return
        self._forget_later(reservation, now)
        live = self._live.pop(reservation.id, None)
        if live is not None:
            self._unhold(live)
        for key, amount in actual.items():
            self._spend(key, amount, now, None)

    async def release(self, reservation: Reservation) -> None:
        now = self._clock()
        self._expire(now)
        if reservation.id in self._settled:
            return
        self._forget_later(reservation, now)
        live = self._live.pop(reservation.id, None)
        if live is not None:
            self._unhold(live)

    async def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        return self._spend(key, amount, self._clock(), ttl)

    async def get(self, key: str) -> tuple[float, float]:
        now = self._clock()
        self._expire(now)
        return self._used_of(key, now), self._held.get(key, (0.0, 0))[0]

    async def window(self, key: str, amount: float, limit: float, window: float) -> WindowDecision:
        state, decision = window_decide(
            self._windows.get(key), self._clock(), amount, limit, window
        )
        if key not in self._windows:
            self._make_room(self._windows)
        self._windows[key] = state
        self._windows.move_to_end(key)
        return decision

    async def windows(
        self, checks: Sequence[tuple[str, float, float, float]]
    ) -> list[WindowDecision]:
        return [await self.window(*check) for check in checks]

    async def close(self) -> None:
        return None


class MemoryKeyValue:
    """:class:`~plano.store.protocols.KeyValue` for one process."""

    def __init__(self, *, max_keys: int = 100_000, clock: Clock = time.time) -> None:
        self.max_keys = max_keys
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()

    def _live(self, key: str, now: float) -> bytes | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        value, expires_at = hit
        if expires_at is not None and expires_at <= now:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key, self._clock())

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        now = self._clock()
        found = {key: self._live(key, now) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now = self._clock()
        if key not in self._data and len(self._data) >= self.max_keys:
            expired = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
            for k in expired:
                del self._data[k]
            while len(self._data) >= self.max_keys:
                self._data.popitem(last=False)
        self._data[key] = (bytes(value), None if ttl is None else now + ttl)
        self._data.move_to_end(key)

    async def delete(self, key: str) -> bool:
        live = self._live(key, self._clock()) is not None
        self._data.pop(key, None)
        return live

    async def scan(self, prefix: str, limit: int = 1000) -> dict[str, bytes]:
        now = self._clock()
        out: dict[str, bytes] = {}
        for key in sorted(k for k in self._data if k.startswith(prefix)):
            value, expires_at = self._data[key]
            if expires_at is None or expires_at > now:
                out[key] = value
                if len(out) >= limit:
                    break
        return out

    async def close(self) -> None:
        return None
