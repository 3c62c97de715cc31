"""The audit log on every durable backend: append (an id already stored is ignored),
filters, newest-first paging, details as JSON, long texts cut, bad events refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.store import test_migrations

from plano.errors import InvalidRequest
from plano.store.audit import (
    AuditLog,
    AuditQuery,
    PostgresAuditLog,
    SQLiteAuditLog,
    row_from_event,
)
from plano.store.db import PostgresDatabase, SQLiteDatabase

T0 = 1_700_000_000.0
pg_url = test_migrations.pg_url


@pytest.fixture(params=["sqlite", "postgres"])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditLog]:
    store: SQLiteAuditLog | PostgresAuditLog
    if request.param == "sqlite":
        store = SQLiteAuditLog(SQLiteDatabase(tmp_path / "state.db"))
    else:
        store = PostgresAuditLog(PostgresDatabase(request.getfixturevalue("pg_url")))
    yield store
    await store.close()


def event(i: int, **over: Any) -> dict[str, Any]:
    return {
        "id": f"req-{i:04d}/0",
        "ts": T0 + i,
        "kind": "request",
        "request_id": f"req-{i:04d}",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "listener": "llm",
        "principal": ("key-a", "key-b")[i % 2],
        "principal_kind": "key",
        "user": "alice",
        "team": "red",
        "tenant": None,
        "model_requested": "fast",
        "model": "openai/gpt-4o-mini",
        "status": (200, 403)[i % 2],
        "source": "auth",
        "action": ("allow", "deny")[i % 2],
        "rule": None if i % 2 == 0 else "model_not_allowed",
        "reason": None,
        **over,
    }


async def test_append_is_idempotent_by_id_and_reads_back(log: AuditLog) -> None:
    await log.append([event(1), event(2, detail={"generation": 3})])
    await log.append([event(1, action="changed")])  # a retried batch: ignored
    page = await log.query(AuditQuery())
    assert [e["id"] for e in page.events] == ["req-0002/0", "req-0001/0"]
    newest, oldest = page.events
    assert newest["detail"] == {"generation": 3} and oldest["detail"] is None
    assert oldest["action"] == "deny" and oldest["user"] == "alice" and oldest["status"] == 403
    assert oldest["ts"] == T0 + 1


async def test_filters_and_paging(log: AuditLog) -> None:
    await log.append([event(i) for i in range(9)])
    await log.append(
        [
            {
                "id": "adm-1",
                "ts": T0 + 4.5,
                "kind": "admin",
                "source": "admin",
                "action": "key.revoke",
            }
        ]
    )
    denied = await log.query(AuditQuery(action="deny"))
    assert [e["request_id"] for e in denied.events] == [f"req-{i:04d}" for i in (7, 5, 3, 1)]
    assert len((await log.query(AuditQuery(principal="key-a"))).events) == 5
    window = await log.query(AuditQuery(since=T0 + 3, until=T0 + 5))
    assert [e["id"] for e in window.events] == ["adm-1", "req-0004/0", "req-0003/0"]
    admin = await log.query(AuditQuery(kind="admin"))
    assert [e["action"] for e in admin.events] == ["key.revoke"]
    assert (await log.query(AuditQuery(source="admin"))).events == admin.events
    one = await log.query(AuditQuery(request_id="req-0002"))
    assert [e["id"] for e in one.events] == ["req-0002/0"]
    seen: list[str] = []
    cursor = None
    while True:
        page = await log.query(AuditQuery(limit=4, cursor=cursor))
        seen += [e["id"] for e in page.events]
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == 10 and len(set(seen)) == 10 and seen[0] == "req-0008/0"
    with pytest.raises(InvalidRequest):
        await log.query(AuditQuery(cursor="not-a-cursor"))


async def test_long_texts_are_cut(log: AuditLog) -> None:
    await log.append([event(1, reason="x" * 5000, model_requested="m" * 5000)])
    (stored,) = (await log.query(AuditQuery())).events
    assert len(stored["reason"]) < 600 and len(stored["model_requested"]) < 600


@pytest.mark.parametrize(
    "bad",
    [{"ts": T0, "source": "a", "action": "b"}, {"id": "x", "source": "a", "action": "b"}],
)
def test_events_without_id_time_source_or_action_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        row_from_event(bad)
    with pytest.raises(ValueError):
        row_from_event({"id": "x", "ts": T0, "source": "a"})
