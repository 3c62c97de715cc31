"""Which backend serves which state, from the config and the number of workers; what `plano up`
says about it; what a reload leaves for a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plano.config import PlanoConfig, check_config
from plano.server.reload import restart_only_changes
from plano.server.state_setup import describe_state, state_settings
from plano.store.setup import MEMORY, StateStores

PROVIDERS = [{"model": "openai/gpt-4o-mini", "access_key": "k", "default": True}]
PG = "postgresql://plano:s3cret@db.internal:5432/plano?sslmode=require"
REDIS = "rediss://:hunter2@cache.internal:6380/0"


def config(**extra: Any) -> PlanoConfig:
    cfg, issues = check_config({"version": "v0.4.0", "model_providers": PROVIDERS, **extra}, {})
    assert cfg is not None, [str(i) for i in issues]
    return cfg


def test_one_worker_with_nothing_configured() -> None:
    s = state_settings(config())
    assert s.durable == ".plano/state.db"
    assert (s.hot, s.pins, s.health_sync) == (None, None, None)  # memory; nothing to share
    assert s.prefix == "plano:" and s.writer.batch == 500 and s.writer.interval == 0.1
    lines = describe_state(config(), s)
    assert lines == [
        "usage log: sqlite .plano/state.db",
        "Responses state: sqlite .plano/state.db",
        "hot state (counters, key-value, topics): memory (this process)",
        "session pins: this process's own",
        "routing health: this process's own",
    ]


def test_several_workers_share_the_host_files() -> None:
    cfg = config(state={"path": "/var/lib/plano/state.db", "health_sync": "500ms"})
    s = state_settings(cfg, workers=4)
    assert s.durable == "/var/lib/plano/state.db"
    assert s.hot == "sqlite:///var/lib/plano/hot.db"  # its own file: no wait on the ledger's
    assert s.pins == s.hot and s.health_sync == 0.5 and s.workers == 4
    lines = describe_state(cfg, s)
    assert "usage log: sqlite /var/lib/plano/state.db (shared by 4 workers of this host)" in lines
    assert any(line.startswith("hot state") and "hot.db" in line for line in lines)
    assert "routing health: shared through the hot state every 0.5 s" in lines


def test_replicas_on_servers_and_no_password_is_shown() -> None:
    cfg = config(state={"redis": REDIS, "postgres": PG, "key_prefix": "gw1"})
    s = state_settings(cfg, workers=2)
    assert (s.durable, s.hot, s.pins, s.prefix) == (PG, REDIS, REDIS, "gw1:")
    text = "\n".join(describe_state(cfg, s))
    assert "s3cret" not in text and "hunter2" not in text and "sslmode" not in text
    assert "usage log: postgres postgresql://plano@db.internal:5432/plano" in text
    assert "Responses state: postgres postgresql://plano@db.internal:5432/plano" in text
    assert "hot state (counters, key-value, topics): redis rediss://cache.internal:6380/0" in text


def test_plano_keys_keep_deciding_responses_and_session_pins() -> None:
    cache = {"type": "redis", "url": "redis://pins:6379/1", "tenant_header": "x-tenant"}
    cfg = config(
        state_storage={"type": "postgres", "connection_string": PG},
        routing={"session_cache": cache},
    )
    s = state_settings(cfg)  # one worker, no state.redis: hot state in memory...
    assert s.hot is None and s.pins == "redis://pins:6379/1"  # ...but pins on that Redis
    lines = describe_state(cfg, s)
    pg = "postgres postgresql://plano@db.internal:5432/plano"
    assert f"Responses state: {pg} (state_storage)" in lines
    assert (
        "session pins: shared through redis redis://pins:6379/1 (routing.session_cache), "
        "scoped by the x-tenant header"
    ) in lines
    local = config(routing={"session_cache": {"type": "memory"}}, state={"redis": REDIS})
    assert state_settings(local).pins is None  # Plano's memory cache: per process


def test_state_in_memory_is_per_process_whatever_the_workers() -> None:
    cfg = config(state={"path": ":memory:"}, state_storage={"type": "memory"})
    s = state_settings(cfg, workers=2)
    assert (s.durable, s.hot, s.pins, s.health_sync) == (MEMORY, None, None, None)
    lines = describe_state(cfg, s)
    assert lines[0] == "usage log: memory (this process; each worker keeps its own)"
    assert "a previous_response_id must reach the same worker" in lines[1]


def test_a_reload_that_moves_state_says_it_needs_a_restart() -> None:
    old = config()
    new = config(state={"redis": REDIS}, routing={"session_cache": {"type": "memory"}})
    notes = restart_only_changes(old, new)
    assert any(n.startswith("state changed; it takes effect on restart") for n in notes)
    assert any(n.startswith("routing.session_cache changed") for n in notes)
    assert restart_only_changes(old, config()) == []


async def test_stores_open_lazily_and_create_the_file_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    cfg = config(state={"path": str(path)})
    stores = StateStores(state_settings(cfg, workers=2))
    assert not path.exists()  # opening connects to nothing
    await stores.start()
    try:
        assert path.exists()
        status = stores.status()
        assert status["stores"]["durable"]["status"] == "ok"
        assert status["stores"]["hot"]["backend"] == "sqlite"
        assert status["writer"]["queued"] == 0
    finally:
        await stores.close()


async def test_a_durable_store_that_is_down_at_start_up_is_reported_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = config(state={"postgres": "postgresql://plano@127.0.0.1:9/none"})
    stores = StateStores(state_settings(cfg))
    await stores.start(within=5.0)
    try:
        durable = stores.status()["stores"]["durable"]
        assert durable["status"] == "degraded" and durable["reason"]
        assert "serving anyway" in caplog.text
    finally:
        await stores.close(within=0.5)
