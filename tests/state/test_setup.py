from __future__ import annotations

import logging
from pathlib import Path

import pytest

from plano.config.sections import StateStorage
from plano.state.postgres import PostgresResponseStore
from plano.state.setup import store_from_config
from plano.state.sqlite import SQLiteResponseStore
from plano.state.store import DEFAULT_MAX_BYTES, MemoryResponseStore


def test_default_is_a_bounded_memory_store() -> None:
    store = store_from_config(None)
    assert isinstance(store, MemoryResponseStore)


def test_memory_settings_are_applied() -> None:
    store = store_from_config(StateStorage(type="memory", max_entries=5, ttl=60))
    assert isinstance(store, MemoryResponseStore)
    assert store.max_entries == 5 and store.ttl == 60
    assert store.max_bytes == DEFAULT_MAX_BYTES  # bounded by bytes as well as by entries


async def test_sqlite_uses_the_configured_file(tmp_path: Path) -> None:
    store = store_from_config(StateStorage(type="sqlite", path=str(tmp_path / "r.db")))
    assert isinstance(store, SQLiteResponseStore)
    assert store.path == tmp_path / "r.db"
    await store.close()


async def test_postgres_is_served_by_postgres_and_connects_on_first_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = StateStorage(type="postgres", connection_string="postgres://u:pw@db/x")
    with caplog.at_level(logging.DEBUG):
        store = store_from_config(settings)
    assert isinstance(store, PostgresResponseStore)  # nothing connected yet
    assert "pw" not in store.db.describe() and "pw" not in caplog.text
    await store.close()
