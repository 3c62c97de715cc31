"""Virtual keys as the auth filter sees them: who a key stands for, found fast.

* :class:`KeyCache`: stored keys by digest, cached in the process for ``auth.cache_ttl``
  (unknown digests too, so a flood of one wrong key costs one read per TTL), one read at a
  time per digest however many requests wait for it, bounded in size. The process that
  revokes a key forgets it at once; every other process and replica stops accepting it
  within the TTL. While the durable store is down, a key this process had read keeps working
  as last read (a key it never saw gets 503).
* :class:`StaticKeys`: the config's keys, by digest, per runtime snapshot.
* :class:`ModelAccess`: whether a key's ``models`` patterns allow a requested name or a
  deployment, by every name that designates it (model id, entry name, aliases, pools).

Pure but for the cache's reads of the store.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from plano.config.auth import StaticKey
from plano.config.names import Match, ModelNames, config_names
from plano.config.schema import ModelProvider, PlanoConfig
from plano.errors import PlanoError
from plano.pipeline.context import KeyInfo, Principal
from plano.providers.deployment import Deployment
from plano.store.health import StoreHealth
from plano.store.keys import KeyRecord, KeyStore, hash_key
from plano.store.protocols import StoreUnavailable

__all__ = ["KeyCache", "KnownKey", "ModelAccess", "StaticKeys", "known_from_record"]

log = logging.getLogger("plano.auth")


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A key that exists: the principal it authenticates, and whether it was revoked."""

    principal: Principal
    revoked_at: float | None = None

    @property
    def info(self) -> KeyInfo:
        assert self.principal.key is not None
        return self.principal.key


def _principal(
    key_id: str,
    info: KeyInfo,
    user: str | None,
    team: str | None,
    tenant: str | None,
    tags: Iterable[str],
) -> Principal:
    return Principal(key_id, "key", user, team, tenant, frozenset(tags), info)


def known_from_record(r: KeyRecord) -> KnownKey:
    info = KeyInfo(
        r.id, "store", r.models, r.agents, r.budgets, r.rate_limits, r.expires_at, r.name
    )
    return KnownKey(_principal(r.id, info, r.user, r.team, r.tenant, r.tags), r.revoked_at)


def known_from_static(k: StaticKey) -> KnownKey:
    p = k.principal
    info = KeyInfo(
        k.id,
        "config",
        tuple(k.models),
        tuple(k.agents),
        tuple(k.budgets),
        tuple(k.rate_limits),
        k.expires,
        k.name,
    )
    return KnownKey(_principal(k.id, info, p.user, p.team, p.tenant, p.tags))


class StaticKeys:
    """The config's keys (one runtime snapshot's), by digest and by id."""

    def __init__(self, keys: Sequence[StaticKey] = ()) -> None:
        self.by_digest: dict[str, KnownKey] = {}
        self.by_id: dict[str, KnownKey] = {}
        for k in keys:
            if k.key:  # an empty key (an unset $VAR) is a config error; never a match
                self.by_digest[hash_key(k.key)] = self.by_id[k.id] = known_from_static(k)

    def describe(self, known: KnownKey) -> dict[str, Any]:
        """A static key as the admin API lists it (never the key)."""
        p, info = known.principal, known.info
        return {
            "id": info.id,
            "source": "config",
            "name": info.name,
            "user": p.user,
            "team": p.team,
            "tenant": p.tenant,
            "tags": sorted(p.tags),
            "models": list(info.models),
            "agents": list(info.agents),
            "budgets": list(info.budgets),
            "rate_limits": list(info.rate_limits),
            "created_at": None,
            "expires_at": info.expires_at,
            "revoked_at": None,
        }


@dataclass(slots=True)
class _Entry:
    at: float
    key: KnownKey | None


class KeyCache:
    """Stored keys by digest, cached per process (see the module docstring). Outlives
    runtime snapshots: a reload keeps what was read."""

    def __init__(
        self,
        store: KeyStore,
        *,
        max_entries: int = 10_000,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_entries = max_entries
        self.health = health
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._digests: dict[str, str] = {}  # key id -> digest, to forget a revoked key
        self._flights: dict[str, asyncio.Future[KnownKey | None]] = {}
        self._epoch = 0
        self.hits = 0
        self.reads = 0
        self.stale = 0

    async def lookup(self, digest: str, ttl: float) -> KnownKey | None:
        """The key with this digest, read at most ``ttl`` seconds ago; raises
        :class:`StoreUnavailable` when the store is down and this process never read it."""
        entry = self._entries.get(digest)
        if entry is not None and self._clock() - entry.at < ttl:
            self.hits += 1
            return entry.key
        flight = self._flights.get(digest)
        if flight is None:
            flight = asyncio.ensure_future(self._read(digest, entry, self._epoch))
            self._flights[digest] = flight
            flight.add_done_callback(lambda f: self._landed(digest, f))
        # Shielded: a client that leaves must not cancel the read the others wait for.
        return await asyncio.shield(flight)

    def _landed(self, digest: str, flight: asyncio.Future[KnownKey | None]) -> None:
        if self._flights.get(digest) is flight:
            del self._flights[digest]
        if not flight.cancelled():
            flight.exception()  # retrieved: nobody may be waiting any more

    async def _read(self, digest: str, stale: _Entry | None, epoch: int) -> KnownKey | None:
        """``epoch``: when the read was asked for; a revocation since then voids it."""
        self.reads += 1
        try:
            record = await self.store.by_hash(digest)
        except StoreUnavailable as exc:
            if self.health is not None and self.health.down(exc.message):
                log.warning("key store unavailable (%s); known keys keep working", exc.message)
            if stale is None:
                raise
            self.stale += 1
            return stale.key
        if self.health is not None:
            self.health.up()
        known = known_from_record(record) if record is not None else None
        if epoch == self._epoch:  # no revocation landed while reading
            self._put(digest, known)
        return known

    def _put(self, digest: str, known: KnownKey | None) -> None:
        self._entries.pop(digest, None)
        while len(self._entries) >= self.max_entries:
            oldest = next(iter(self._entries))
            gone = self._entries.pop(oldest)
            if gone.key is not None:
                self._digests.pop(gone.key.info.id, None)
        self._entries[digest] = _Entry(self._clock(), known)
        if known is not None:
            self._digests[known.info.id] = digest

    def forget(self, key_id: str) -> None:
        """Drop what this process knows of a key (it was revoked here). Reads under way are
        not kept, and lookups from now on read afresh."""
        self._epoch += 1
        self._flights.clear()
        digest = self._digests.pop(key_id, None)
        if digest is not None:
            self._entries.pop(digest, None)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "hits": self.hits,
            "reads": self.reads,
            "stale": self.stale,
        }


_MAX_NAME_SETS = 10_000


class ModelAccess:
    """Which models a key's ``models`` patterns allow, for one config (one snapshot).

    A deployment is designated by its ``provider/model_id``, its bare model id, its entry's
    ``name``, each alias whose target is that entry, and each pool with a member that is:
    a key allowed ``fast`` may use the model ``fast`` stands for, whatever name the client
    or routing used for it, and nothing else."""

    def __init__(self, config: PlanoConfig) -> None:
        self._names: ModelNames[ModelProvider] = config_names(config)
        self._pools = set(config.model_pools)
        self._extra: dict[tuple[int, str | None], set[str]] = {}
        for alias, spec in config.model_aliases.items():
            self._designate(spec.target, alias)
        for pool, members in config.model_pools.items():
            for member in members.deployments:
                self._designate(member.model, pool)
        self._sets: dict[tuple[str, str], frozenset[str]] = {}
        self._matchers: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _designate(self, target: str, name: str) -> None:
        found = self._entry(target)
        if found is not None:
            self._extra.setdefault(_ref(found), set()).add(name)

    def _entry(self, name: str) -> Match[ModelProvider] | None:
        try:
            return self._names.resolve(name)
        except PlanoError:
            return None

    def matcher(self, patterns: tuple[str, ...]) -> re.Pattern[str]:
        m = self._matchers.get(patterns)
        if m is None:
            m = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
            if len(self._matchers) < _MAX_NAME_SETS:
                self._matchers[patterns] = m
        return m

    def allows_name(self, patterns: tuple[str, ...], requested: str) -> bool:
        """Whether a client may ask for ``requested``: a pattern matches it, or a name of
        the model it resolves to."""
        if not patterns:
            return True
        m = self.matcher(patterns)
        if m.match(requested):
            return True
        if requested in self._pools:
            return False
        found = self._entry(requested)
        return found is not None and any(m.match(n) for n in self._match_names(found))

    def allows(self, patterns: tuple[str, ...], dep: Deployment) -> bool:
        """Whether a key may be served by ``dep`` (routing, pools and fallbacks included)."""
        if not patterns:
            return True
        m = self.matcher(patterns)
        return any(m.match(n) for n in self.names(dep))

    def names(self, dep: Deployment) -> frozenset[str]:
        """Every name that designates ``dep``."""
        cache_key = (dep.name, dep.label)
        names = self._sets.get(cache_key)
        if names is None:
            base = {dep.name, dep.model_id} | ({dep.label} if dep.label else set())
            found = self._entry(dep.label or dep.name)
            extra = self._extra.get(_ref(found), set()) if found is not None else set()
            names = frozenset(base | extra)
            if len(self._sets) < _MAX_NAME_SETS:  # wildcard deployments carry client ids
                self._sets[cache_key] = names
        return names

    def _match_names(self, found: Match[ModelProvider]) -> set[str]:
        entry = found.value
        if found.wildcard_model is not None:
            base = {f"{entry.provider}/{found.wildcard_model}", found.wildcard_model}
        else:
            base = {entry.model, entry.model_id} | ({entry.name} if entry.name else set())
        return base | self._extra.get(_ref(found), set())


def _ref(found: Match[ModelProvider]) -> tuple[int, str | None]:
    return (id(found.value), found.wildcard_model)
