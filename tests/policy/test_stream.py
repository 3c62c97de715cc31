"""Tool-call pieces held per choice, assembled, released renumbered (pure)."""

from __future__ import annotations

from plano.core.model import ToolCallDelta
from plano.policy.stream import HeldCalls


def test_calls_are_assembled_and_kept_ones_renumbered() -> None:
    held = HeldCalls()
    pieces = [
        ToolCallDelta(0, "c0", "get_weather", ""),
        ToolCallDelta(0, arguments='{"q":'),
        ToolCallDelta(1, "c1", "db_write", '{"sql"'),
        ToolCallDelta(0, arguments='"Paris"}'),
        ToolCallDelta(1, arguments=': "DROP"}'),
        ToolCallDelta(2, "c2", "db_read", "{}"),
        ToolCallDelta(0, "d0", "other_choice", "{}", index=1),
    ]
    for p in pieces:
        held.hold(p)
    assert held and held.choices() == [0, 1]
    calls = held.calls(0)
    assert [(i, c.id, c.name, c.arguments) for i, c in calls] == [
        (0, "c0", "get_weather", '{"q":"Paris"}'),
        (1, "c1", "db_write", '{"sql": "DROP"}'),
        (2, "c2", "db_read", "{}"),
    ]
    out = held.release(0, drop={1})
    assert [(p.tool_index, p.name) for p in out] == [
        (0, "get_weather"),
        (0, None),
        (0, None),
        (1, "db_read"),
    ]
    assert held.choices() == [1] and held.calls(0) == []
    assert len(held.release(1)) == 1 and not held
