"""W3C trace context: traceparent parsing, new traces, child spans, ids after fork."""

from __future__ import annotations

import os

import pytest

from plano.core.trace import TraceContext, new_span_id, new_trace_id, parse_traceparent

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_valid_traceparent_is_continued() -> None:
    t = TraceContext.start(PARENT, "vendor=1")
    assert t.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert t.parent_id == "b7ad6b7169203331" and t.span_id != t.parent_id
    assert t.sampled and t.state == "vendor=1"
    child = t.child()
    assert (child.trace_id, child.parent_id) == (t.trace_id, t.span_id)
    assert child.traceparent().startswith("00-0af7651916cd43dd8448eb211c80319c-")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # forbidden version
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(bad: str) -> None:
    assert parse_traceparent(bad) is None
    t = TraceContext.start(bad)
    assert t.parent_id is None and len(t.trace_id) == 32 and len(t.span_id) == 16


def test_unsampled_flag_is_kept() -> None:
    t = TraceContext.start("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
    assert not t.sampled and t.traceparent().endswith("-00")


def test_forked_children_do_not_repeat_the_parents_ids() -> None:
    r, w = os.pipe()
    before = new_trace_id()
    pid = os.fork()
    if pid == 0:  # the child writes its next id and leaves at once
        os.write(w, new_trace_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(r, 64).decode()
    ours = new_trace_id()
    assert child != ours and before != ours and len(new_span_id()) == 16
