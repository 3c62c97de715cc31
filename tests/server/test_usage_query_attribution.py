"""``/plano/v1/usage``'s attribution parameters: short names and column names filter,
``group_by`` takes the short names; unknown groups are a 400 naming the allowed ones."""

from __future__ import annotations

import pytest

from plano.errors import InvalidRequest
from plano.server.admin import usage_query
from plano.store.usage_sql import group_exprs


def test_attribution_filters_by_short_or_column_name() -> None:
    q, groups = usage_query(
        {"key": "k1", "user_id": "alice", "team": "search", "tenant": "acme",
         "agent": "planner", "route": "code", "trace": "ab" * 16, "group_by": "team, key,day"}
    )  # fmt: skip
    assert (q.key_id, q.user_id, q.team, q.tenant, q.agent, q.route, q.trace_id) == (
        "k1", "alice", "search", "acme", "planner", "code", "ab" * 16,
    )  # fmt: skip
    assert groups == ["team", "key", "day"]
    assert [sql for _, sql in group_exprs(groups, "postgres")][:2] == ["team", "key_id"]


def test_unknown_groups_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="team"):
        group_exprs(["colour"], "sqlite")
