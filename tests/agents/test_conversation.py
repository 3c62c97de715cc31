from __future__ import annotations

from plano.agents.conversation import (
    concat_answers,
    summary_messages,
    with_earlier_answers,
    with_history,
)
from plano.core.model import Message, TextPart


def msg(role: str, text: str, name: str | None = None) -> Message:
    return Message(role, [TextPart(text)], name=name)  # type: ignore[arg-type]


def test_earlier_answers_go_before_the_last_user_message() -> None:
    messages = [msg("system", "s"), msg("user", "q1"), msg("assistant", "a1"), msg("user", "q2")]
    out = with_earlier_answers(messages, [("weather", "sunny"), ("flights", "AF12")])
    assert [(m.role, m.name, m.text()) for m in out] == [
        ("system", None, "s"),
        ("user", None, "q1"),
        ("assistant", None, "a1"),
        ("assistant", "weather", "sunny"),
        ("assistant", "flights", "AF12"),
        ("user", None, "q2"),
    ]
    assert with_earlier_answers(messages, []) == messages


def test_concat_names_each_agent_unless_one() -> None:
    assert concat_answers([("a", "only")]) == "only"
    assert concat_answers([("a", "x "), ("b", "y")]) == "[a]\nx\n\n[b]\ny"


def test_summary_prompt_holds_question_and_answers() -> None:
    out = summary_messages([msg("user", "weather and flights?")], [("w", "sunny"), ("f", "AF")])
    assert out[0].role == "system"
    assert "weather and flights?" in out[1].text() and "agent='f'" in out[1].text()


def test_history_only_in_front_of_a_new_turn() -> None:
    history = [msg("user", "q1"), msg("assistant", "a1", "weather")]
    new = [msg("system", "s"), msg("user", "q2")]
    assert [m.text() for m in with_history(history, new)] == ["s", "q1", "a1", "q2"]
    whole = [msg("user", "q1"), msg("assistant", "a1"), msg("user", "q2")]
    assert with_history(history, whole) == whole  # the client sent it all
    assert with_history([], new) == new
