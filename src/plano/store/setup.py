"""Opening a process's stores from plain settings (the config is turned into
:class:`StateSettings` by ``plano.server.state_setup``; nothing here reads it).

==============  ==============================================  ============================
kind            what                                            where
==============  ==============================================  ============================
durable         usage log, audit trail, virtual keys (later:    PostgreSQL, else a SQLite
                sessions)                                       file (``:memory:``: this
                                                                process only)
hot             counters, key-value, topics                     Redis, a SQLite file shared
                                                                by a host's workers, or memory
pins            session pins (key-value)                        the hot store, another Redis
                                                                (``routing.session_cache``)
                                                                or none (the router's map)
health topic    routing health shared between processes         the hot store, unless memory
==============  ==============================================  ============================

:class:`StateStores` holds them for the life of the process (config reloads keep them) with
the usage log's and the audit trail's :class:`~plano.store.writer.BatchWriter` s and one
:class:`~plano.store.health.StoreHealth` per kind. Opening connects to nothing: SQLite files,
Redis pools and PostgreSQL pools open on first use; :meth:`StateStores.start` tries the
durable store once so that ``plano up`` reports a problem at start-up (and still serves).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plano.store.audit import AuditLog, PostgresAuditLog, SQLiteAuditLog
from plano.store.db import (
    DEFAULT_SQLITE_PATH,
    PostgresDatabase,
    SQLiteDatabase,
    is_postgres_url,
    redact_url,
)
from plano.store.factory import open_counters, open_key_value, open_topics, sqlite_path
from plano.store.health import StoreHealth
from plano.store.keys import KeyStore, PostgresKeyStore, SQLiteKeyStore
from plano.store.protocols import Counters, KeyValue, StoreUnavailable, Topics, UsageLog
from plano.store.usage import PostgresUsageLog, SQLiteUsageLog
from plano.store.writer import BatchWriter

__all__ = [
    "HEALTH_TOPIC_KEEP",
    "MEMORY",
    "StateSettings",
    "StateStores",
    "WriterSettings",
    "describe_store",
]

log = logging.getLogger("plano.store")

#: The durable target that keeps records in this process's memory (a private SQLite database).
MEMORY = ":memory:"
#: Messages the routing-health topic keeps (each process publishes one per sync interval).
HEALTH_TOPIC_KEEP = 1000


@dataclass(frozen=True, slots=True)
class WriterSettings:
    batch: int = 500
    interval: float = 0.1
    max_queue: int = 10_000


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where a process keeps its state: one target per kind, as plain strings."""

    #: A ``postgresql://`` URL, a SQLite file path, or :data:`MEMORY`.
    durable: str = str(DEFAULT_SQLITE_PATH)
    #: A hot-store URL for :mod:`plano.store.factory` (``None``: memory).
    hot: str | None = None
    #: Where session pins are shared (a key-value URL); ``None``: not shared (the router's
    #: own map only). The same URL as ``hot`` uses the hot store itself.
    pins: str | None = None
    #: Prefix of every key (Redis, shared SQLite files), e.g. ``plano:``.
    prefix: str = "plano:"
    #: Seconds between routing-health syncs; ``None``: not shared (one process).
    health_sync: float | None = None
    writer: WriterSettings = field(default_factory=WriterSettings)
    #: Worker processes of this host using the same files (a process then caches nothing
    #: another one may change: Responses records).
    workers: int = 1


def describe_store(target: str | None) -> tuple[str, str]:
    """``(backend, where)`` of a durable or hot target, as it may be shown or logged."""
    if target is None or target in (MEMORY, "memory://"):
        return "memory", "this process"
    if is_postgres_url(target):
        return "postgres", redact_url(target)
    if target.startswith(("redis://", "rediss://")):
        return "redis", redact_url(target)
    return "sqlite", str(sqlite_path(target))


class StateStores:
    """The stores of one process; see the module docstring."""

    def __init__(self, settings: StateSettings) -> None:
        self.settings = settings
        prefix = settings.prefix
        self.db: SQLiteDatabase | PostgresDatabase
        self.usage: UsageLog
        self.audit: AuditLog
        self.keys: KeyStore
        # Each durable store and this holder close the database once.
        if is_postgres_url(settings.durable):
            self.db = PostgresDatabase(settings.durable)
            self.usage = PostgresUsageLog(self.db.retain())
            self.audit = PostgresAuditLog(self.db.retain())
            self.keys = PostgresKeyStore(self.db.retain())
        else:
            if settings.durable == MEMORY:  # private: never shared with another store
                self.db = SQLiteDatabase(Path(MEMORY))
            else:
                self.db = SQLiteDatabase.shared(Path(settings.durable))
            self.usage = SQLiteUsageLog(self.db.retain())
            self.audit = SQLiteAuditLog(self.db.retain())
            self.keys = SQLiteKeyStore(self.db.retain())
        self.counters: Counters = open_counters(settings.hot, prefix=prefix)
        self.kv: KeyValue = open_key_value(settings.hot, prefix=prefix)
        self.topics: Topics = open_topics(settings.hot, prefix=prefix)
        self.health_topics: Topics | None = None
        if settings.health_sync is not None:
            self.health_topics = open_topics(
                settings.hot, prefix=prefix, max_messages=HEALTH_TOPIC_KEEP
            )
        self.pins: KeyValue | None = None
        self._own_pins = False
        if settings.pins is not None:
            if settings.pins == settings.hot:
                self.pins = self.kv
            else:
                self.pins = open_key_value(settings.pins, prefix=prefix)
                self._own_pins = True
        self.health: dict[str, StoreHealth] = {
            "durable": StoreHealth("durable", *describe_store(settings.durable)),
            "hot": StoreHealth("hot", *describe_store(settings.hot)),
        }
        if settings.pins is not None:
            self.health["pins"] = (
                self.health["hot"]
                if not self._own_pins
                else StoreHealth("pins", *describe_store(settings.pins))
            )
        w = settings.writer
        self.writer = BatchWriter(
            self.usage,
            batch=w.batch,
            interval=w.interval,
            max_queue=w.max_queue,
            health=self.health["durable"],
        )
        self.audit_writer = BatchWriter(
            self.audit,
            name="audit log",
            batch=w.batch,
            interval=w.interval,
            max_queue=w.max_queue,
            health=self.health["durable"],
        )

    async def start(self, within: float = 5.0) -> None:
        """Open the durable store (migrating it) and start the writer. A store that cannot
        be reached is logged and reported degraded; the process serves anyway."""
        try:
            async with asyncio.timeout(within):
                if isinstance(self.db, PostgresDatabase):
                    await self.db.open()
                else:
                    await self.db.run(lambda _conn: None)
        except (StoreUnavailable, TimeoutError) as exc:
            why = exc.message if isinstance(exc, StoreUnavailable) else "no answer in time"
            self.health["durable"].down(why)
            log.warning("durable store unavailable at start-up (%s); serving anyway", why)
        await self.writer.start()
        await self.audit_writer.start()

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` and ``/plano/v1/status`` show: each store and the writer."""
        return {
            "stores": {name: h.to_json() for name, h in self.health.items()},
            "writer": self.writer.stats(),
            "audit_writer": self.audit_writer.stats(),
        }

    async def close(self, within: float = 10.0) -> None:
        """Write what the writer holds (``within`` seconds), then close every store."""
        await asyncio.gather(self.writer.close(within), self.audit_writer.close(within))
        closing: list[Any] = [self.usage, self.audit, self.keys, self.db]
        closing += [self.counters, self.kv, self.topics]
        if self.health_topics is not None:
            closing.append(self.health_topics)
        if self._own_pins and self.pins is not None:
            closing.append(self.pins)
        for store in closing:
            try:
                await store.close()
            except Exception as exc:  # closing must go on with the others
                log.warning("closing %s failed: %r", type(store).__name__, exc)
