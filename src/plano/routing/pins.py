"""Session pins shared through a key-value store (the hot store, or the Redis that Plano's
``routing.session_cache`` names), behind the router's local :class:`~plano.routing.affinity.
AffinityMap`.

The router looks in its local map first. Only a request with a session id whose pin is not
local asks the store: one ``get`` bounded by ``timeout`` (50 ms); an error or a time-out is a
miss (the request is routed afresh, never failed). A successful answer that changed the local
map (a new pin, another deployment, or a refresh past half the TTL) writes the pin back in the
background; at most ``max_pending`` writes wait at once (past that, a write is skipped: the
next success writes it again).

Keys are ``pin:`` and a digest of (tenant, model, session): bounded, whatever the client sent.
A value is ``{"d": deployment, "r": route, "a": wall-clock seconds when pinned}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from plano.store.health import StoreHealth
from plano.store.protocols import KeyValue, StoreUnavailable

__all__ = ["SharedPin", "SharedPins", "pin_key"]

log = logging.getLogger("plano.routing")


def pin_key(session: str, model: str) -> str:
    """The store key of a (tenant-scoped) session's pin for a requested model."""
    digest = hashlib.blake2b(f"{model}\0{session}".encode(), digest_size=16).hexdigest()
    return "pin:" + digest


@dataclass(frozen=True, slots=True)
class SharedPin:
    deployment: str
    route: str | None
    #: Seconds since it was pinned (by whichever process).
    age: float


class SharedPins:
    def __init__(
        self,
        kv: KeyValue,
        *,
        timeout: float = 0.05,
        max_pending: int = 256,
        health: StoreHealth | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.timeout = timeout
        self.max_pending = max_pending
        self.health = health
        self._wall = wall
        self._writes: set[asyncio.Task[None]] = set()
        self.errors = 0
        self.skipped = 0

    async def get(self, session: str, model: str) -> SharedPin | None:
        """The shared pin, or ``None`` (none, the store is down, or it did not answer in
        time)."""
        try:
            async with asyncio.timeout(self.timeout):
                raw = await self.kv.get(pin_key(session, model))
        except (StoreUnavailable, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._ok()
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            dep, route, at = data["d"], data.get("r"), float(data["a"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not isinstance(dep, str) or not (route is None or isinstance(route, str)):
            return None
        if not math.isfinite(at):
            return None
        return SharedPin(dep, route, max(0.0, self._wall() - at))

    def put(self, session: str, model: str, deployment: str, route: str | None, ttl: float) -> None:
        """Write a pin in the background (the request does not wait)."""
        if len(self._writes) >= self.max_pending:
            self.skipped += 1
            return
        value = orjson.dumps({"d": deployment, "r": route, "a": round(self._wall(), 3)})
        task = asyncio.get_running_loop().create_task(
            self._write(pin_key(session, model), value, ttl)
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.kv.set(key, value, ttl)
        except StoreUnavailable as exc:
            self._failed(exc)
            return
        self._ok()

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        why = exc.message if isinstance(exc, StoreUnavailable) else "no answer in time"
        if self.health is not None and self.health.down(why):
            log.warning("session pins not shared (%s): pins stay in this process", why)

    def _ok(self) -> None:
        if self.health is not None and self.health.up():
            log.info("session pins shared again")

    async def close(self, within: float = 1.0) -> None:
        """Let the pending writes finish (``within`` seconds)."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=within)
