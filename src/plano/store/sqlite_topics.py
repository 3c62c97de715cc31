"""Topics in one SQLite file shared by the workers of one host.

Tables (``hot_`` prefix, created by the store)::

    hot_messages (seq, topic, payload, headers)       seq: one increasing id for all topics
    hot_topic_len (topic, n)                          for trimming to ``max_messages``
    hot_groups   (topic, grp, last_seq)               a group's read position
    hot_pending  (topic, grp, seq, consumer, delivered_at, deliveries)
    hot_consumers (topic, grp, consumer)              a group's consumers (members, release)

A subscriber polls: one read-only query says whether anything is there for its group (a new
message, or a pending one whose ``visibility`` timeout passed); only then does it take the
write lock to claim one message. An idle subscriber polls every ``poll_min`` seconds, slowing
to ``poll_max`` (default 5 ms to 50 ms); a publish in the same process wakes its subscribers
at once. Each topic keeps about its last ``max_messages`` messages (default 100,000; trimmed
when 10% over, oldest first). Ids are the decimal ``seq``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import orjson

from plano.store.common import parse_seq_id
from plano.store.protocols import Message
from plano.store.sqlite_runner import SQLiteRunner

__all__ = ["SQLiteTopics"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hot_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
    headers BLOB);
CREATE INDEX IF NOT EXISTS hot_messages_topic ON hot_messages (topic, seq);
CREATE TABLE IF NOT EXISTS hot_topic_len (topic TEXT PRIMARY KEY, n INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hot_groups (
    topic TEXT NOT NULL, grp TEXT NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (topic, grp)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hot_pending (
    topic TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, consumer TEXT NOT NULL,
    delivered_at REAL NOT NULL, deliveries INTEGER NOT NULL,
    PRIMARY KEY (topic, grp, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hot_pending_due ON hot_pending (topic, grp, delivered_at);
CREATE TABLE IF NOT EXISTS hot_consumers (
    topic TEXT NOT NULL, grp TEXT NOT NULL, consumer TEXT NOT NULL,
    PRIMARY KEY (topic, grp, consumer)) WITHOUT ROWID;
"""

_Row = tuple[int, bytes, bytes | None, int]


def _message(topic: str, prefix_len: int, row: _Row) -> Message:
    seq, payload, headers, deliveries = row
    return Message(
        topic[prefix_len:],
        str(seq),
        bytes(payload),
        deliveries,
        orjson.loads(headers) if headers else {},
    )


class SQLiteTopics:
    """:class:`~plano.store.protocols.Topics` on a SQLite file shared across processes."""

    def __init__(
        self,
        path: Path,
        *,
        prefix: str = "",
        visibility: float = 30.0,
        max_messages: int = 100_000,
        poll_min: float = 0.005,
        poll_max: float = 0.05,
        busy_timeout: float = 5.0,
    ) -> None:
        self.prefix = prefix
        self.visibility = visibility
        self.max_messages = max_messages
        self.poll_min = poll_min
        self.poll_max = poll_max
        self._db = SQLiteRunner(path, _SCHEMA, busy_timeout=busy_timeout, name="plano-topics")
        self._wake: dict[str, asyncio.Event] = {}
        self._closed = asyncio.Event()

    async def publish(
        self, topic: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> str:
        t = self.prefix + topic
        head = orjson.dumps(dict(headers)) if headers else None
        data, cap = bytes(payload), self.max_messages

        def run(conn: sqlite3.Connection) -> int:
            seq = conn.execute(
                "INSERT INTO hot_messages (topic, payload, headers) VALUES (?, ?, ?) RETURNING seq",
                (t, data, head),
            ).fetchone()[0]
            n = conn.execute(
                "INSERT INTO hot_topic_len (topic, n) VALUES (?, 1)"
                " ON CONFLICT (topic) DO UPDATE SET n = n + 1 RETURNING n",
                (t,),
            ).fetchone()[0]
            if n > cap + cap // 10:
                conn.execute(
                    "DELETE FROM hot_messages WHERE seq IN (SELECT seq FROM hot_messages"
                    " WHERE topic = ? ORDER BY seq LIMIT ?)",
                    (t, n - cap),
                )
                conn.execute("UPDATE hot_topic_len SET n = ? WHERE topic = ?", (cap, t))
            return int(seq)

        seq = await self._db.run(run)
        wake = self._wake.pop(t, None)
        if wake is not None:
            wake.set()
        return str(seq)

    async def _probe(self, t: str, group: str) -> bool:
        """Anything for ``group``? Read only (no write lock); an unknown group says yes."""
        due_before = time.time() - self.visibility

        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                """SELECT g.last_seq IS NULL
                    OR EXISTS (SELECT 1 FROM hot_messages m
                               WHERE m.topic = ?1 AND m.seq > g.last_seq)
                    OR EXISTS (SELECT 1 FROM hot_pending p WHERE p.topic = ?1 AND p.grp = ?2
                               AND p.delivered_at <= ?3)
                FROM (SELECT 1) LEFT JOIN hot_groups g ON g.topic = ?1 AND g.grp = ?2""",
                (t, group, due_before),
            ).fetchone()
            return bool(row[0])

        return await self._db.run(run, write=False)

    async def _claim(self, t: str, group: str, consumer: str) -> Message | None:
        n, vis = len(self.prefix), self.visibility

        def run(conn: sqlite3.Connection) -> Message | None:
            now = time.time()
            conn.execute(
                "INSERT OR IGNORE INTO hot_groups (topic, grp, last_seq) VALUES"
                " (?1, ?2, (SELECT COALESCE(MAX(seq), 0) FROM hot_messages WHERE topic = ?1))",
                (t, group),
            )
            conn.execute(
                "INSERT OR IGNORE INTO hot_consumers VALUES (?, ?, ?)", (t, group, consumer)
            )
            while True:  # an expired pending message first
                due = conn.execute(
                    "SELECT seq, deliveries FROM hot_pending WHERE topic = ? AND grp = ?"
                    " AND delivered_at <= ? ORDER BY seq LIMIT 1",
                    (t, group, now - vis),
                ).fetchone()
                if due is None:
                    break
                seq, deliveries = due
                row = conn.execute(
                    "SELECT seq, payload, headers FROM hot_messages WHERE seq = ?", (seq,)
                ).fetchone()
                if row is None:  # trimmed while pending
                    conn.execute(
                        "DELETE FROM hot_pending WHERE topic = ? AND grp = ? AND seq = ?",
                        (t, group, seq),
                    )
                    continue
                conn.execute(
                    "UPDATE hot_pending SET consumer = ?, delivered_at = ?, deliveries = ?"
                    " WHERE topic = ? AND grp = ? AND seq = ?",
                    (consumer, now, deliveries + 1, t, group, seq),
                )
                return _message(t, n, (*row, deliveries + 1))
            row = conn.execute(
                "SELECT m.seq, m.payload, m.headers FROM hot_messages m JOIN hot_groups g"
                " ON g.topic = m.topic AND g.grp = ? WHERE m.topic = ? AND m.seq > g.last_seq"
                " ORDER BY m.seq LIMIT 1",
                (group, t),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE hot_groups SET last_seq = ? WHERE topic = ? AND grp = ?", (row[0], t, group)
            )
            conn.execute(
                "INSERT OR REPLACE INTO hot_pending VALUES (?, ?, ?, ?, ?, 1)",
                (t, group, row[0], consumer, now),
            )
            return _message(t, n, (*row, 1))

        return await self._db.run(run)

    async def _idle(self, t: str, wait: float) -> None:
        wake = self._wake.get(t)
        if wake is None:
            wake = self._wake[t] = asyncio.Event()
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._closed.wait())]
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, block: float = 5.0
    ) -> AsyncIterator[Message]:
        block = max(block, 0.01)  # 0 would spin
        t = self.prefix + topic
        wait = self.poll_min
        probe = False  # the first poll creates the group: no probe
        while not self._closed.is_set():
            if not probe or await self._probe(t, group):
                msg = await self._claim(t, group, consumer)
                if msg is not None:
                    wait = self.poll_min
                    yield msg
                    continue
            probe = True
            await self._idle(t, min(wait, block))
            wait = min(wait * 2, self.poll_max)

    async def ack(self, topic: str, group: str, ids: Sequence[str]) -> None:
        t = self.prefix + topic
        keys = [(t, group, parse_seq_id(i)) for i in ids]
        if not keys:
            return
        await self._db.run(
            lambda conn: conn.executemany(
                "DELETE FROM hot_pending WHERE topic = ? AND grp = ? AND seq = ?", keys
            ),
            write=len(keys) > 1,  # many ids: one transaction, not a commit each
        )

    async def last_id(self, topic: str) -> str | None:
        t = self.prefix + topic
        row = await self._db.run(
            lambda conn: conn.execute(
                "SELECT MAX(seq) FROM hot_messages WHERE topic = ?", (t,)
            ).fetchone(),
            write=False,
        )
        return None if row is None or row[0] is None else str(row[0])

    async def members(self, topic: str) -> dict[str, frozenset[str]]:
        t = self.prefix + topic

        def run(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
            out: dict[str, set[str]] = {}
            for (grp,) in conn.execute("SELECT grp FROM hot_groups WHERE topic = ?", (t,)):
                out[grp] = set()
            for grp, consumer in conn.execute(
                "SELECT grp, consumer FROM hot_consumers WHERE topic = ?", (t,)
            ):
                out.setdefault(grp, set()).add(consumer)
            return {g: frozenset(c) for g, c in out.items()}

        return await self._db.run(run, write=False)

    async def release(self, topic: str, group: str, consumer: str) -> bool:
        key = (self.prefix + topic, group, consumer)

        def run(conn: sqlite3.Connection) -> bool:
            held = conn.execute(
                "SELECT 1 FROM hot_pending WHERE topic = ? AND grp = ? AND consumer = ? LIMIT 1",
                key,
            ).fetchone()
            if held is not None:
                return False
            conn.execute(
                "DELETE FROM hot_consumers WHERE topic = ? AND grp = ? AND consumer = ?", key
            )
            return True

        return await self._db.run(run)

    async def replay(
        self, topic: str, after: str | None = None, limit: int = 1000
    ) -> AsyncIterator[Message]:
        t, n = self.prefix + topic, len(self.prefix)
        start = 0 if after is None else parse_seq_id(after)
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT seq, payload, headers, 1 FROM hot_messages WHERE topic = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (t, start, limit),
            ).fetchall(),
            write=False,
        )
        for row in rows:
            yield _message(t, n, row)

    async def close(self) -> None:
        self._closed.set()
        await self._db.close()
