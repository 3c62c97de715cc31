"""The response store a config asks for (``state_storage``)."""

from __future__ import annotations

from pathlib import Path

from plano.config.sections import StateStorage
from plano.state.postgres import PostgresResponseStore
from plano.state.sqlite import SQLiteResponseStore
from plano.state.store import MemoryResponseStore, ResponseStore
from plano.store.db import PostgresDatabase

__all__ = ["store_from_config"]


def store_from_config(settings: StateStorage | None) -> ResponseStore:
    """Memory by default; SQLite for ``sqlite``; PostgreSQL for ``postgres`` (its pool opens,
    and the schema migrates, on first use, in the event loop that uses it)."""
    if settings is None or settings.type == "memory":
        if settings is None:
            return MemoryResponseStore()
        return MemoryResponseStore(settings.max_entries, settings.ttl)
    if settings.type == "postgres":
        assert settings.connection_string is not None  # the config's validator requires it
        return PostgresResponseStore(PostgresDatabase(settings.connection_string), settings.ttl)
    return SQLiteResponseStore(Path(settings.path), ttl=settings.ttl)
