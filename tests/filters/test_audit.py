"""The audit trail: one event per decision with who and what, admin events (one per id
however many processes record it), nothing for a request nobody decided about."""

from __future__ import annotations

from plano.core.model import ChatRequest, Message
from plano.filters.audit import AuditFilter, AuditTrail
from plano.pipeline.context import Decision, KeyInfo, Principal, RequestContext
from plano.store.audit import AuditQuery, SQLiteAuditLog
from plano.store.writer import BatchWriter


def trail() -> AuditTrail:
    log = SQLiteAuditLog.in_memory()
    return AuditTrail(log, BatchWriter(log, name="audit log"), host="h1")


async def test_each_decision_is_an_event_with_who_and_what() -> None:
    t = trail()
    ctx = RequestContext("req-9", "openai_chat", {}, listener="llm")
    ctx.request = ChatRequest(model="m" * 500, messages=[Message("user")])
    ctx.principal = Principal(
        "k1", "key", "alice", "red", "acme", frozenset({"x"}), KeyInfo("k1", "store")
    )
    ctx.status = 429
    ctx.decisions += [Decision("auth", "allow"), Decision("budget", "deny", "monthly", "spent")]
    await AuditFilter(t).on_complete(ctx)
    page = await t.query(AuditQuery())
    assert [e["id"] for e in page.events] == ["req-9/1", "req-9/0"]  # one time: by id
    budget = next(e for e in page.events if e["source"] == "budget")
    assert (budget["rule"], budget["reason"], budget["status"]) == ("monthly", "spent", 429)
    assert (budget["principal"], budget["user"], budget["team"], budget["tenant"]) == (
        "k1",
        "alice",
        "red",
        "acme",
    )
    assert budget["trace_id"] == ctx.trace.trace_id and budget["listener"] == "llm"
    assert len(budget["model_requested"]) < 210 and budget["model"] is None
    await t.log.close()


async def test_nothing_decided_is_nothing_recorded() -> None:
    t = trail()
    assert t.record_request(RequestContext("r", "openai_chat", {})) == 0
    assert t.writer.queued == 0
    await t.log.close()


async def test_admin_events_with_one_id_are_one_row() -> None:
    t = trail()
    for _ in range(3):  # three workers applying the same reload
        t.record_admin("config.reload", event_id="reload:h1:2:abc", detail={"generation": 2})
    made = t.record_admin("key.create", target="k1")
    other = t.record_admin("key.create", target="k2")
    assert made != other
    page = await t.query(AuditQuery(kind="admin"))
    assert sorted(e["id"] for e in page.events) == sorted(["reload:h1:2:abc", made, other])
    reload = next(e for e in page.events if e["action"] == "config.reload")
    assert reload["detail"] == {"generation": 2} and reload["principal"] == "admin"
    await t.log.close()
