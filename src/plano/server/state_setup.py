"""Which backend serves which state, decided once from the config (and the number of worker
processes), as plain :class:`~plano.store.setup.StateSettings` for ``plano.store``.

==================================  ============================================================
durable records (usage log; later   ``state.postgres`` if set, else the SQLite file ``state.path``
audit, keys, sessions)              (default ``.plano/state.db``, WAL, shared by a host's
                                    workers); ``state.path: ":memory:"``: this process only
Responses state                     Plano's ``state_storage`` when set (memory / sqlite /
                                    postgres), else the durable store
hot state (counters, key-value,     ``state.redis`` if set; else memory with one worker (or
topics)                             ``state.path: ":memory:"``); else the SQLite file
                                    ``hot.db`` next to ``state.path`` (its own file, so hot
                                    writes never wait for the usage log's write lock)
session pins                        ``routing.session_cache`` of type redis: that Redis; of type
                                    memory: each process's own; unset: the hot store (not
                                    shared when the hot store is this process's memory)
routing health                      shared through the hot store every ``state.health_sync``,
                                    unless it is this process's memory
==================================  ============================================================
"""

from __future__ import annotations

from pathlib import Path

from plano.config import PlanoConfig
from plano.store.setup import MEMORY, StateSettings, WriterSettings, describe_store

__all__ = ["describe_state", "ephemeral_settings", "hot_path", "state_changes", "state_settings"]


def hot_path(durable_path: str) -> Path:
    """The embedded hot store's file: ``hot.db`` next to the durable file."""
    return Path(durable_path).parent / "hot.db"


def state_settings(config: PlanoConfig, workers: int = 1) -> StateSettings:
    """The stores a process of a ``workers``-process gateway opens for ``config``."""
    state = config.state
    memory = state.path == MEMORY
    durable = state.postgres or state.path
    hot: str | None
    if state.redis:
        hot = state.redis
    elif workers <= 1 or memory:
        hot = None
    else:
        hot = f"sqlite://{hot_path(state.path)}"
    cache = config.routing.session_cache if config.routing else None
    pins: str | None = hot
    if cache is not None and cache.type == "redis":
        pins = cache.url
    elif (cache is not None and cache.type == "memory") or hot is None:
        pins = None
    w = state.writer
    return StateSettings(
        durable=durable,
        hot=hot,
        pins=pins,
        prefix=f"{state.key_prefix}:" if state.key_prefix else "",
        health_sync=None if hot is None else float(state.health_sync),
        writer=WriterSettings(batch=w.batch, interval=float(w.interval), max_queue=w.max_queue),
        workers=max(1, workers),
    )


def ephemeral_settings() -> StateSettings:
    """Everything in this process's memory (tests, the demo, embedders of ``build_gateway``)."""
    return StateSettings(durable=MEMORY)


def describe_state(config: PlanoConfig, settings: StateSettings) -> list[str]:
    """Where the gateway keeps what, one line per kind, for ``plano up`` (no passwords)."""
    n = settings.workers
    if settings.durable == MEMORY:
        durable = "memory (this process" + ("; each worker keeps its own)" if n > 1 else ")")
    else:
        durable = _where(settings.durable)
        if n > 1 and durable.startswith("sqlite"):
            durable += f" (shared by {n} workers of this host)"
    lines = [f"usage log: {durable}"]
    ss = config.state_storage
    if ss is None:
        responses = durable
    elif ss.type == "memory":
        per = "; a previous_response_id must reach the same worker" if n > 1 else ""
        responses = f"memory (state_storage; per process{per})"
    elif ss.type == "sqlite":
        responses = f"sqlite {ss.path} (state_storage)"
    else:
        responses = _where(ss.connection_string) + " (state_storage)"
    lines.append(f"Responses state: {responses}")
    if settings.hot is None:
        hot = "memory (this process)"
    else:
        hot = _where(settings.hot)
        if hot.startswith("sqlite"):
            hot += f" (shared by {n} workers of this host)"
    lines.append(f"hot state (counters, key-value, topics): {hot}")
    if config.budgets or config.rate_limits or config.ratelimits:
        each = (
            " (each worker its own: they do not add up)" if settings.hot is None and n > 1 else ""
        )
        lines.append(f"budgets and rate limits: counted in the hot state{each}")
    cache = config.routing.session_cache if config.routing else None
    if settings.pins is None:
        pins = "this process's own"
    elif settings.pins == settings.hot:
        pins = "shared through the hot state"
    else:
        pins = f"shared through {_where(settings.pins)} (routing.session_cache)"
    if cache is not None and cache.tenant_header:
        pins += f", scoped by the {cache.tenant_header} header"
    lines.append(f"session pins: {pins}")
    if settings.health_sync is None:
        lines.append("routing health: this process's own")
    else:
        every = f"{settings.health_sync:g}"
        lines.append(f"routing health: shared through the hot state every {every} s")
    return lines


def _where(target: str | None) -> str:
    backend, where = describe_store(target)
    return backend if backend == "memory" else f"{backend} {where}"


def state_changes(old: PlanoConfig, new: PlanoConfig) -> list[str]:
    """Changes of where state lives, which a reload leaves for the next restart (the stores
    are opened once per process)."""
    out: list[str] = []
    if old.state != new.state:
        out.append("state changed; it takes effect on restart (the stores in use are kept)")
    before = old.routing.session_cache if old.routing else None
    after = new.routing.session_cache if new.routing else None
    if before != after:
        out.append(
            "routing.session_cache changed; it takes effect on restart (session pins stay "
            "where they are; a changed tenant_header applies now)"
        )
    return out
