"""The Responses API's stored answers: a narrow store protocol and the in-memory store.

Each record holds one turn (its input items and the answer as items) and a pointer to the
previous response, so a long conversation costs memory linear in its length; the whole
conversation is rebuilt by walking the chain (:func:`load_conversation`). Redis or Postgres
stores implement :class:`ResponseStore` (four methods) and plug in unchanged.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from plano.errors import NotFound

__all__ = [
    "MemoryResponseStore",
    "ResponseStore",
    "StoredResponse",
    "load_conversation",
]


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


class MemoryResponseStore:
    """A bounded LRU with a time-to-live per record; nothing survives a restart."""

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries must be at least 1 and ttl positive")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def peek(self, response_id: str) -> StoredResponse | None:
        """A synchronous :meth:`get` (the SQLite store uses this store as its cache)."""
        hit = self._data.get(response_id)
        if hit is None:
            return None
        if hit[0] <= self._clock():
            del self._data[response_id]
            return None
        self._data.move_to_end(response_id)
        return hit[1]

    def store(self, record: StoredResponse) -> None:
        """A synchronous :meth:`put`; evicts the least recently used records over the cap."""
        self._data[record.id] = (self._clock() + self.ttl, record)
        self._data.move_to_end(record.id)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def discard(self, response_id: str) -> bool:
        return self._data.pop(response_id, None) is not None

    async def get(self, response_id: str) -> StoredResponse | None:
        return self.peek(response_id)

    async def put(self, record: StoredResponse) -> None:
        self.store(record)

    async def delete(self, response_id: str) -> bool:
        return self.discard(response_id)

    async def close(self) -> None:
        self._data.clear()


async def load_conversation(
    store: ResponseStore, response_id: str, max_turns: int = 10_000
) -> list[dict[str, Any]]:
    """Every item of the conversation that ends with ``response_id``, oldest first. A missing
    link (expired, deleted, ``store: false``) is a 404 naming it: a conversation is never
    silently shortened."""
    turns: list[list[dict[str, Any]]] = []
    current: str | None = response_id
    while current is not None:
        if len(turns) >= max_turns:
            raise NotFound(
                f"The conversation of '{response_id}' is longer than {max_turns} turns.",
                param="previous_response_id",
            )
        record = await store.get(current)
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
