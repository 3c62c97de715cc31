"""Session affinity: a conversation stays on the deployment it started on.

A bounded map with a time-to-live (Plano's ``routing.session_ttl_seconds`` and
``session_max_entries``): the oldest pin is evicted when full, an expired one is dropped when
read. Pure: callers pass the clock value. Several processes share pins through a store behind
this map (``routing/pins.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AffinityMap", "Pin"]


@dataclass(frozen=True, slots=True)
class Pin:
    deployment: str
    route: str | None
    at: float


class AffinityMap:
    def __init__(self, ttl: float = 600.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._pins: OrderedDict[tuple[str, str], Pin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pins)

    def get(self, session: str, model: str, now: float) -> Pin | None:
        key = (session, model)
        pin = self._pins.get(key)
        if pin is None:
            return None
        if now - pin.at >= self.ttl:
            del self._pins[key]
            return None
        return pin

    def put(self, session: str, model: str, deployment: str, route: str | None, now: float) -> bool:
        """Pin (or refresh) a session; whether anything changed (a still-fresh pin to the same
        deployment is left alone: no re-insert, and nothing to share, on the hot path)."""
        key = (session, model)
        old = self._pins.get(key)
        if old is not None and old.deployment == deployment and now - old.at < self.ttl / 2:
            return False
        self._pins[key] = Pin(deployment, route, now)
        self._pins.move_to_end(key)
        while len(self._pins) > self.max_entries:
            self._pins.popitem(last=False)
        return True

    def adopt(self, old: AffinityMap, keep: Callable[[Pin], bool]) -> int:
        """Carry ``old``'s pins that ``keep`` accepts over (a config reload), oldest first,
        within this map's size; returns how many were kept."""
        for key, pin in old._pins.items():
            if keep(pin):
                self._pins[key] = pin
        while len(self._pins) > self.max_entries:
            self._pins.popitem(last=False)
        return len(self._pins)
