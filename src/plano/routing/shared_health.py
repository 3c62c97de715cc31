"""Routing health shared between processes (workers of a host, replicas on one Redis).

Routing keeps reading its local :class:`~plano.routing.health.HealthBoard`, synchronously.
Every ``interval`` (``state.health_sync``) a :class:`HealthSync` task publishes this process's
own view of each deployment on the hot store's ``routing-health`` topic and merges the views
the other processes published into the local board (:attr:`DeploymentHealth.peers`). A
cool-down or a breaker that opens is published at once, not at the next interval, so another
process learns it within one interval of its own.

The merge rule (pure: :func:`export_view`, :func:`merge_views`):

* **cool-down**: a deployment is avoided until the latest time any live process learned (a
  429's Retry-After applies to everyone calling with the same key);
* **breaker**: a breaker open in any live process keeps the others away until that process's
  cool-down ends; then each process probes for itself (half-open is not shared, and failure
  counts are not summed: one process's bad network must not open everyone's breakers on its
  own, but its open breaker does);
* **latency**: the mean of the processes' averages (this process's included), per kind
  (time to first token, whole answer);
* in-flight counts stay local (they change faster than any sync).

A process is live while its last view is younger than ``ttl`` (three intervals, at least one
second). Each view carries only what the process learned itself, never what it merged, so
nothing echoes. Times travel as wall-clock seconds (processes do not share a monotonic clock):
hosts' clocks must agree to well under a cool-down, which NTP gives.

Why a topic, not one key per process: finding the other processes' keys would take a scan of
the whole keyspace (Redis ``SCAN`` walks every key); on a topic each process reads the views
published since its last read, one ``XRANGE`` (and one ``XADD``) per interval, whatever else
the store holds. When the store is down, peers' views are forgotten (routing goes local) and
come back with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from plano.routing.health import HealthBoard, PeerHealth
from plano.routing.smart import SmartRouter
from plano.store.health import StoreHealth
from plano.store.protocols import StoreUnavailable, Topics

__all__ = ["TOPIC", "HealthSync", "View", "export_view", "merge_views"]

log = logging.getLogger("plano.routing")

TOPIC = "routing-health"
#: One deployment in a view: ``[cool_until, open_until, ttft_ms, duration_ms]`` (wall-clock
#: seconds, 0 for none; averages or ``None``).
View = dict[str, list[float | None]]
_PAGE = 500
_PAGES = 8


def _wall(mono: float, mono_now: float, wall_now: float) -> float:
    return round(mono - mono_now + wall_now, 3) if mono > mono_now else 0.0


def export_view(board: HealthBoard, mono_now: float, wall_now: float) -> View:
    """This process's own view: each deployment it knows something about."""
    out: View = {}
    for h in board.entries():
        b = h.breaker
        open_until = 0.0
        if b.state == "open" and b.settings.enabled:
            open_until = _wall(b.opened_at + b.settings.cooldown, mono_now, wall_now)
        cool = _wall(h.cool_until, mono_now, wall_now)
        ttft, duration = h.ttft.value, h.duration.value
        if cool or open_until or ttft is not None or duration is not None:
            out[h.name] = [cool, open_until, _ms(ttft), _ms(duration)]
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _num(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def merge_views(
    board: HealthBoard,
    views: Iterable[Mapping[str, Any]],
    mono_now: float,
    wall_now: float,
    known: Callable[[str], bool],
) -> int:
    """Set every deployment's :class:`PeerHealth` from the other processes' ``views`` (none:
    back to local only). Deployments neither on the board nor ``known`` (configured here)
    are skipped. Returns the deployments that have peers' health."""
    acc: dict[str, list[float]] = {}  # until, ttft sum, ttft n, duration sum, duration n, n
    for view in views:
        for name, entry in view.items():
            if not isinstance(entry, list) or len(entry) != 4:
                continue
            cool, open_until, ttft, duration = (_num(v) for v in entry)
            a = acc.setdefault(name, [0.0, 0.0, 0, 0.0, 0, 0])
            a[0] = max(a[0], cool or 0.0, open_until or 0.0)
            if ttft is not None:
                a[1] += ttft
                a[2] += 1
            if duration is not None:
                a[3] += duration
                a[4] += 1
            a[5] += 1
    fresh = PeerHealth()
    for h in board.entries():
        if h.name not in acc and h.peers.processes:
            h.peers = fresh
    merged = 0
    for name, (until, ts, tn, ds, dn, n) in acc.items():
        if not (board.known(name) or known(name)):
            continue
        mono_until = until - wall_now + mono_now if until > wall_now else 0.0
        board.get(name).peers = PeerHealth(mono_until, ts, int(tn), ds, int(dn), int(n))
        merged += 1
    return merged


def instance_id() -> str:
    """This process's name in the views: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class HealthSync:
    """The background task (see the module docstring). ``router()`` is the current router
    (a config reload replaces it); ``health`` says whether the store answers."""

    def __init__(
        self,
        topics: Topics,
        router: Callable[[], SmartRouter],
        interval: float,
        *,
        health: StoreHealth | None = None,
        instance: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.topics = topics
        self._router = router
        self.interval = interval
        self.ttl = max(3 * interval, 1.0)
        self.health = health
        self.instance = instance or instance_id()
        self._wall = wall
        self._after: str | None = None
        #: Other processes' latest views: instance -> (wall time, view).
        self.peers: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._known: tuple[SmartRouter | None, frozenset[str]] = (None, frozenset())

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.tick()
            except Exception:  # a bug must not end the sync for the life of the process
                log.exception("routing health sync failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            # News in a burst (a 429 storm) publishes at most ten times an interval.
            await asyncio.sleep(max(0.0, started + self.interval / 10 - loop.time()))

    def _known_names(self, router: SmartRouter) -> Callable[[str], bool]:
        if self._known[0] is not router:  # a reload made a new one
            names = frozenset(d.key for d in router.catalog.all_deployments())
            self._known = (router, names)
        return self._known[1].__contains__

    async def tick(self) -> None:
        """Publish this process's view, read the others', merge them."""
        router = self._router()
        board = router.health
        board.on_news = self._wake.set
        wall = self._wall()
        view = export_view(board, router.clock(), wall)
        try:
            mine = await self.topics.publish(
                TOPIC, orjson.dumps({"i": self.instance, "t": wall, "v": view})
            )
            seen_mine = await self._read(mine)
        except StoreUnavailable as exc:
            if self.health is not None and self.health.down(exc.message):
                log.warning("routing health not shared (%s): routing on local health", exc)
            self.peers.clear()
            merge_views(board, (), router.clock(), self._wall(), self._known_names(router))
            return
        if not seen_mine:  # our position is not in this topic (a new server): start over
            self._after = None
        if self.health is not None and self.health.up():
            log.info("routing health shared again")
        wall = self._wall()
        self.peers = {i: p for i, p in self.peers.items() if wall - p[0] <= self.ttl}
        views = [v for _, v in self.peers.values()]
        merge_views(board, views, router.clock(), wall, self._known_names(router))

    async def _read(self, mine: str) -> bool:
        """The views published since the last read; whether ours was among them."""
        seen_mine = False
        for _ in range(_PAGES):
            n = 0
            async for msg in self.topics.replay(TOPIC, self._after, _PAGE):
                n += 1
                self._after = msg.id
                if msg.id == mine:
                    seen_mine = True
                    continue
                self._take(msg.payload)
            if n < _PAGE:
                break
        return seen_mine

    def _take(self, payload: bytes) -> None:
        try:
            data = orjson.loads(payload)
            instance, at, view = data["i"], _num(data["t"]), data["v"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if instance == self.instance or at is None or not isinstance(view, dict):
            return
        if self._wall() - at > self.ttl:
            return  # an old view (the first read starts at the oldest kept)
        known = self.peers.get(instance)
        if known is None or known[0] <= at:
            self.peers[instance] = (at, view)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        router = self._router()
        router.health.on_news = None
