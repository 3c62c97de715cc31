"""The ``responses`` table on PostgreSQL: Responses API turns as opaque bytes with an expiry
and a link to the previous turn.

This layer knows rows, not :class:`plano.state.StoredResponse` (``plano.state`` sits above
``plano.store``); :class:`plano.state.postgres.PostgresResponseStore` is the
``ResponseStore`` built on it. A whole conversation is read in one round trip
(:meth:`ResponseRows.chain`, a recursive query), not one per turn.
"""

from __future__ import annotations

from plano.store.db import PostgresDatabase

__all__ = ["ResponseRows"]

_CHAIN = """
WITH RECURSIVE chain (id, previous_id, record, depth) AS (
    SELECT id, previous_id, record, 1 FROM responses WHERE id = $1 AND expires_at > $2
    UNION ALL
    SELECT r.id, r.previous_id, r.record, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.previous_id
    WHERE r.expires_at > $2 AND c.depth < $3
)
SELECT record FROM chain ORDER BY depth
"""
_PUT = """
INSERT INTO responses (id, created_at, expires_at, previous_id, record)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at,
    expires_at = EXCLUDED.expires_at, previous_id = EXCLUDED.previous_id, record = EXCLUDED.record
"""
#: Expired rows are deleted in bounded slices, so no write ever waits on a big purge.
_PURGE = """
DELETE FROM responses WHERE id IN (
    SELECT id FROM responses WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""


class ResponseRows:
    """Rows of the ``responses`` table. Times are epoch seconds from the caller's clock, so
    expiry is the same decision on every replica that shares the table."""

    def __init__(self, db: PostgresDatabase, *, purge_every: int = 256, purge_batch: int = 1000):
        self.db = db
        self.purge_every = purge_every
        self.purge_batch = purge_batch
        self._writes = 0
        self._closed = False

    async def get(self, response_id: str, now: float) -> bytes | None:
        async with self.db.connection() as conn:
            data = await conn.fetchval(
                "SELECT record FROM responses WHERE id = $1 AND expires_at > $2", response_id, now
            )
        return bytes(data) if data is not None else None

    async def chain(self, response_id: str, now: float, max_turns: int) -> list[bytes]:
        """The turn ``response_id`` and those before it, newest first, following previous
        links until one is missing or expired, at most ``max_turns``."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_CHAIN, response_id, now, max_turns)
        return [bytes(r[0]) for r in rows]

    async def put(
        self,
        response_id: str,
        created_at: float,
        expires_at: float,
        previous_id: str | None,
        data: bytes,
        now: float,
    ) -> None:
        self._writes += 1
        purge = self._writes % self.purge_every == 0
        async with self.db.connection() as conn:
            await conn.execute(_PUT, response_id, created_at, expires_at, previous_id, data)
            if purge:
                await conn.execute(_PURGE, now, self.purge_batch)

    async def delete(self, response_id: str) -> bool:
        async with self.db.connection() as conn:
            status = await conn.execute("DELETE FROM responses WHERE id = $1", response_id)
        return status != "DELETE 0"

    async def close(self) -> None:
        if not self._closed:  # the pool may be shared: give it back once
            self._closed = True
            await self.db.close()
