"""Any conversation, however odd, gives a consistent report."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from plano.core.model import ChatRequest, Message, TextPart, ToolCall
from plano.signals import Memo, analyze, transcript
from plano.signals.report import quality_band, severity

_WORDS = st.sampled_from(
    ["no", "i", "meant", "get", "me", "a", "human", "thanks", "THIS", "is", "useless", "!!",
     "??", "it", "worked", "forget", "timeout", "429", "error", "{", "}", "é", "\u2019", ""]
)  # fmt: skip
_TEXT = st.lists(_WORDS, max_size=30).map(" ".join) | st.text(max_size=200)


@st.composite
def _message(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(["user", "assistant", "tool", "system"]))
    calls = []
    if role == "assistant" and draw(st.booleans()):
        name = draw(st.sampled_from(["a", "b", "c"]))
        calls = [ToolCall("x", name, draw(st.sampled_from(['{"q": 1}', '{"q": 2}', "{bad", ""])))]
    return Message(role, [TextPart(draw(_TEXT))], calls)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(_message(), max_size=25))
def test_reports_are_consistent(messages: list[Message]) -> None:
    t = transcript(ChatRequest("m", messages))
    r = analyze(t)
    assert sum(c.count for c in r.categories) == len(r.signals)
    assert all(c.severity == severity(c.count) for c in r.categories)
    assert 0.0 <= r.quality_score <= 100.0
    assert r.quality == quality_band(r.quality_score) or r.quality_score == 0.0
    assert 0.0 < r.efficiency_score <= 1.0
    assert r.turn_count == sum(1 for m in messages if m.role == "user" and m.text())
    assert all(0 <= s.message_index <= len(messages) for s in r.signals)
    assert analyze(t, memo=Memo()) == r
