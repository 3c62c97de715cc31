"""A response store in PostgreSQL, shared by every replica (``state_storage: {type: postgres,
connection_string}``).

Nothing is cached in the process: another replica may delete a response, and a replica must
never serve it afterwards. A conversation is read in one round trip (:meth:`chain`).
Bounded by the TTL (expired rows are purged in slices as writes go on), not by a count:
``max_entries`` bounds the in-memory store only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plano.state.store import StoredResponse
from plano.store.db import PostgresDatabase
from plano.store.responses_pg import ResponseRows

__all__ = ["PostgresResponseStore"]


class PostgresResponseStore:
    def __init__(
        self,
        db: PostgresDatabase,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.db = db
        self.ttl = ttl
        self._clock = clock
        self._rows = ResponseRows(db)

    async def get(self, response_id: str) -> StoredResponse | None:
        data = await self._rows.get(response_id, self._clock())
        return StoredResponse.loads(data) if data is not None else None

    async def chain(self, response_id: str, max_turns: int) -> list[StoredResponse]:
        rows = await self._rows.chain(response_id, self._clock(), max_turns)
        return [StoredResponse.loads(data) for data in rows]

    async def put(self, record: StoredResponse) -> None:
        now = self._clock()
        await self._rows.put(
            record.id, record.created_at, now + self.ttl, record.previous_id, record.dumps(), now
        )

    async def delete(self, response_id: str) -> bool:
        return await self._rows.delete(response_id)

    async def close(self) -> None:
        await self._rows.close()
