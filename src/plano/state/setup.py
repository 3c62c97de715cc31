"""The response store a config asks for: Plano's ``state_storage`` when it is set, else the
process's durable store (``state.postgres``, or the embedded SQLite file ``state.path``), so
that a ``previous_response_id`` answered by one worker or replica continues on another with no
configuration."""

from __future__ import annotations

from pathlib import Path

from plano.config.sections import StateStorage
from plano.state.postgres import PostgresResponseStore
from plano.state.sqlite import SQLiteResponseStore
from plano.state.store import MemoryResponseStore, ResponseStore
from plano.store.db import PostgresDatabase, SQLiteDatabase

__all__ = ["DEFAULT_TTL", "store_from_config"]

#: How long a stored response can be continued when ``state_storage`` does not say.
DEFAULT_TTL = StateStorage.model_fields["ttl"].default


def store_from_config(
    settings: StateStorage | None,
    durable: SQLiteDatabase | PostgresDatabase | None = None,
    *,
    shared: bool = False,
) -> ResponseStore:
    """``state_storage``: memory, SQLite (its own file) or PostgreSQL (the durable store's pool
    when it names the same server). Without it: the ``durable`` database (a private in-memory
    database, or none: a memory store). ``shared``: other processes use the same SQLite file,
    so records are not cached in this one (another worker may delete them). Pools open, and
    schemas migrate, on first use, in the event loop that uses them."""
    if settings is None:
        return _on_durable(durable, shared)
    if settings.type == "memory":
        return MemoryResponseStore(settings.max_entries, settings.ttl)
    if settings.type == "postgres":
        assert settings.connection_string is not None  # the config's validator requires it
        if isinstance(durable, PostgresDatabase) and durable.url == settings.connection_string:
            return PostgresResponseStore(durable.retain(), settings.ttl)
        return PostgresResponseStore(PostgresDatabase(settings.connection_string), settings.ttl)
    return SQLiteResponseStore(Path(settings.path), ttl=settings.ttl, cache=not shared)


def _on_durable(db: SQLiteDatabase | PostgresDatabase | None, shared: bool) -> ResponseStore:
    if isinstance(db, PostgresDatabase):
        return PostgresResponseStore(db.retain(), DEFAULT_TTL)
    if db is None or str(db.path) == ":memory:":
        return MemoryResponseStore()
    return SQLiteResponseStore(db.path, ttl=DEFAULT_TTL, db=db.retain(), cache=not shared)
