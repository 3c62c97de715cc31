"""The response store a config asks for (``state_storage``)."""

from __future__ import annotations

import logging
from pathlib import Path

from plano.config.sections import StateStorage
from plano.state.sqlite import SQLiteResponseStore
from plano.state.store import MemoryResponseStore, ResponseStore

__all__ = ["store_from_config"]

log = logging.getLogger("plano.state")


def store_from_config(settings: StateStorage | None) -> ResponseStore:
    """Memory by default; SQLite for ``sqlite``, and for ``postgres`` until that lands, so a
    config that asked for durable state never silently loses it on restart."""
    if settings is None or settings.type == "memory":
        if settings is None:
            return MemoryResponseStore()
        return MemoryResponseStore(settings.max_entries, settings.ttl)
    if settings.type == "postgres":
        log.warning(
            "state_storage type postgres is not supported yet; using the embedded SQLite file %s",
            settings.path,
        )
    return SQLiteResponseStore(Path(settings.path), ttl=settings.ttl)
