"""Open a hot store from plain settings: one URL (or path) per store, chosen by its scheme.

==========================  =========================================================
``None``, ``memory://``     this process's memory (one worker)
``sqlite://<path>``         a SQLite file shared by the workers of one host; the path
                            follows the scheme as written: ``sqlite:///var/plano/hot.db``
                            is absolute, ``sqlite://.plano/hot.db`` relative
a bare path                 the same as ``sqlite://<path>``
``redis://``, ``rediss://`` Redis (TLS with ``rediss``), several replicas
==========================  =========================================================

``prefix`` namespaces the keys (SQLite and Redis), so several gateways can share a file or a
server. The caller (the config) decides the URL; nothing here reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from plano.errors import ConfigError
from plano.store.memory import MemoryCounters, MemoryKeyValue
from plano.store.memory_topics import MemoryTopics
from plano.store.protocols import Counters, KeyValue, Topics
from plano.store.redis_hot import RedisCounters, RedisKeyValue
from plano.store.redis_topics import RedisTopics
from plano.store.sqlite_hot import SQLiteCounters, SQLiteKeyValue
from plano.store.sqlite_topics import SQLiteTopics

__all__ = ["Backend", "backend_of", "open_counters", "open_key_value", "open_topics", "sqlite_path"]

Backend = Literal["memory", "sqlite", "redis"]


def backend_of(url: str | None) -> Backend:
    """Which backend ``url`` names; :class:`ConfigError` for an unknown scheme."""
    if url is None or url == "memory://":
        return "memory"
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    if url.startswith("sqlite://") or "://" not in url:
        if not sqlite_path(url).name:
            raise ConfigError(f"state store {url!r}: no file name")
        return "sqlite"
    raise ConfigError(
        f"state store {url!r}: expected memory://, sqlite://<path>, redis:// or rediss://"
    )


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://"))


def open_counters(url: str | None, *, prefix: str) -> Counters:
    backend = backend_of(url)
    if backend == "memory" or url is None:
        return MemoryCounters()
    if backend == "sqlite":
        return SQLiteCounters(sqlite_path(url), prefix=prefix)
    return RedisCounters(url, prefix=prefix)


def open_key_value(url: str | None, *, prefix: str) -> KeyValue:
    backend = backend_of(url)
    if backend == "memory" or url is None:
        return MemoryKeyValue()
    if backend == "sqlite":
        return SQLiteKeyValue(sqlite_path(url), prefix=prefix)
    return RedisKeyValue(url, prefix=prefix)


def open_topics(
    url: str | None, *, prefix: str, visibility: float = 30.0, max_messages: int | None = None
) -> Topics:
    """``visibility``: seconds a delivered, unacknowledged message waits before it is
    delivered again; ``max_messages``: about how many messages each topic keeps (the
    backend's default when ``None``)."""
    backend = backend_of(url)
    if backend == "memory" or url is None:
        if max_messages is None:
            return MemoryTopics(visibility=visibility)
        return MemoryTopics(visibility=visibility, max_messages=max_messages)
    keep = max_messages if max_messages is not None else 100_000
    if backend == "sqlite":
        path = sqlite_path(url)
        return SQLiteTopics(path, prefix=prefix, visibility=visibility, max_messages=keep)
    return RedisTopics(url, prefix=prefix, visibility=visibility, max_messages=keep)
