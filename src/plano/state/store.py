"""The Responses API's stored answers: a narrow store protocol and the in-memory store.

Each record holds one turn (its input items and the answer as items) and a pointer to the
previous response, so a long conversation costs memory linear in its length; the whole
conversation is rebuilt by walking the chain (:func:`load_conversation`). Redis or Postgres
stores implement :class:`ResponseStore` (four methods) and plug in unchanged.

The in-memory store is bounded twice, by records and by bytes (a record's serialized size):
a count alone would let 10,000 turns of 10 MB each hold 100 GB.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import orjson

from plano.errors import NotFound

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ChainStore",
    "MemoryResponseStore",
    "ResponseStore",
    "StoredResponse",
    "load_conversation",
]

log = logging.getLogger("plano.state")

#: Serialized bytes of the records kept in memory. Held as Python objects they take ~2.5x
#: that (measured on text-heavy turns), so the default keeps the store near 300 MB of RSS.
DEFAULT_MAX_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    #: Epoch seconds.
    created_at: float
    #: The ``response`` object ``GET /v1/responses/{id}`` returns.
    response: dict[str, Any]
    #: This turn's input items followed by the answer's items (instructions excluded).
    items: list[dict[str, Any]]
    previous_id: str | None = None

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "created_at": self.created_at,
                "response": self.response,
                "items": self.items,
                "previous_id": self.previous_id,
            }
        )

    @classmethod
    def loads(cls, data: bytes) -> StoredResponse:
        d = orjson.loads(data)
        return cls(d["id"], d["created_at"], d["response"], d["items"], d.get("previous_id"))


class ResponseStore(Protocol):
    """Where stored responses live. ``get`` must see a ``put`` as soon as it returns."""

    async def get(self, response_id: str) -> StoredResponse | None: ...

    async def put(self, record: StoredResponse) -> None: ...

    async def delete(self, response_id: str) -> bool: ...

    async def close(self) -> None: ...


@runtime_checkable
class ChainStore(Protocol):
    """A store that reads a whole conversation at once (a server store: one round trip
    instead of one per turn)."""

    async def chain(self, response_id: str, max_turns: int) -> list[StoredResponse]:
        """``response_id`` and the turns before it, newest first, up to the first missing
        link, at most ``max_turns``."""
        ...


class _Entry(NamedTuple):
    expires_at: float
    record: StoredResponse
    #: Serialized size, measured once when stored.
    size: int


class MemoryResponseStore:
    """A bounded LRU with a time-to-live per record; nothing survives a restart.

    Past ``max_entries`` records or ``max_bytes`` bytes (serialized sizes), the least recently
    used records are evicted. A record larger than ``max_bytes`` on its own is not kept at all,
    rather than emptying the store for it.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_entries < 1 or max_bytes < 1 or ttl <= 0:
            raise ValueError("max_entries and max_bytes must be at least 1 and ttl positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._warned_too_large = False

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Serialized size of every record held (expired ones until they are noticed)."""
        return self._bytes

    def peek(self, response_id: str) -> StoredResponse | None:
        """A synchronous :meth:`get` (the SQLite store uses this store as its cache)."""
        hit = self._data.get(response_id)
        if hit is None:
            return None
        if hit.expires_at <= self._clock():
            self.discard(response_id)
            return None
        self._data.move_to_end(response_id)
        return hit.record

    def store(self, record: StoredResponse, size: int | None = None) -> bool:
        """A synchronous :meth:`put`; evicts the least recently used records past either bound.

        ``size`` is the record's serialized size when the caller already has it (the SQLite
        store does), so a record is serialized once. Returns ``False`` when the record alone is
        larger than ``max_bytes``: it is not kept, and neither is an older record of that id.
        """
        if size is None:
            size = len(record.dumps())
        self.discard(record.id)
        if size > self.max_bytes:
            return False
        self._data[record.id] = _Entry(self._clock() + self.ttl, record, size)
        self._bytes += size
        # The new record fits on its own, so this stops before reaching it.
        while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._data.popitem(last=False)
            self._bytes -= evicted.size
        return True

    def discard(self, response_id: str) -> bool:
        entry = self._data.pop(response_id, None)
        if entry is None:
            return False
        self._bytes -= entry.size
        return True

    async def get(self, response_id: str) -> StoredResponse | None:
        return self.peek(response_id)

    async def put(self, record: StoredResponse) -> None:
        size = len(record.dumps())
        if self.store(record, size):
            return
        # Once at warning: a client sending many huge turns should not flood the log.
        level = logging.DEBUG if self._warned_too_large else logging.WARNING
        self._warned_too_large = True
        log.log(
            level,
            "response %s is %d bytes, more than the response store's limit of %d bytes; "
            "it is not stored, so it cannot be continued or read back",
            record.id,
            size,
            self.max_bytes,
        )

    async def delete(self, response_id: str) -> bool:
        return self.discard(response_id)

    async def close(self) -> None:
        self._data.clear()
        self._bytes = 0


async def load_conversation(
    store: ResponseStore, response_id: str, max_turns: int = 10_000
) -> list[dict[str, Any]]:
    """Every item of the conversation that ends with ``response_id``, oldest first. A missing
    link (expired, deleted, ``store: false``) is a 404 naming it: a conversation is never
    silently shortened."""
    fetched: list[StoredResponse] | None = None
    if isinstance(store, ChainStore):
        fetched = await store.chain(response_id, max_turns + 1)
    turns: list[list[dict[str, Any]]] = []
    current: str | None = response_id
    while current is not None:
        if len(turns) >= max_turns:
            raise NotFound(
                f"The conversation of '{response_id}' is longer than {max_turns} turns.",
                param="previous_response_id",
            )
        if fetched is None:
            record = await store.get(current)
        else:
            record = fetched[len(turns)] if len(turns) < len(fetched) else None
            record = record if record is not None and record.id == current else None
        if record is None:
            which = "" if current == response_id else f" (an earlier turn, '{current}')"
            raise NotFound(
                f"Previous response with id '{response_id}' not found{which}.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        turns.append(record.items)
        current = record.previous_id
    return [item for turn in reversed(turns) for item in turn]
