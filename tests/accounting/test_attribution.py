"""Each usage record says who and what it was for: key, user, team, tenant, agent, route,
trace; what a request did not have is left out."""

from __future__ import annotations

from plano.accounting.filter import attribution
from plano.accounting.ledger import UsageRecord
from plano.pipeline.context import KeyInfo, Principal, RequestContext


def test_a_keyed_agent_request_is_attributed_to_everything_it_has() -> None:
    ctx = RequestContext("r1", "openai_chat", {}, agent_id="planner", route="code")
    ctx.principal = Principal(
        "k-alice", "key", user="alice", team="search", tenant="acme",
        key=KeyInfo("k-alice", "store"),
    )  # fmt: skip
    got = attribution(ctx)
    assert got == {
        "key_id": "k-alice", "user_id": "alice", "team": "search", "tenant": "acme",
        "agent": "planner", "route": "code", "trace_id": ctx.trace.trace_id,
    }  # fmt: skip
    assert len(got["trace_id"] or "") == 32


def test_an_anonymous_request_has_only_its_trace_and_long_names_are_capped() -> None:
    ctx = RequestContext("r2", "openai_chat", {}, route="x" * 5000)
    got = attribution(ctx)
    assert got["key_id"] is None and got["team"] is None and got["agent"] is None
    assert len(got["route"] or "") < 250
    rec = UsageRecord("r2", 1.0, "openai_chat", "m", "p", "m", 200, False, None, None,
                      1.0, 0.1, None, 1, **got).to_json()  # fmt: skip
    assert "key_id" not in rec and "team" not in rec and rec["trace_id"] == ctx.trace.trace_id
