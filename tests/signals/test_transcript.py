from __future__ import annotations

from tests.signals.support import bot, call, chat, result, system, user

from plano.core.model import ChatResponse, Choice, Message, TextPart
from plano.signals import Limits, transcript


def test_roles_indices_and_the_answer_last() -> None:
    req = chat(system("be nice"), user("hi"), call("search", {"q": "x"}), result("ok"))
    t = transcript(req, bot("hello"))
    assert [(x.role, x.index) for x in t.turns] == [
        ("user", 1),
        ("tool_call", 2),
        ("tool", 3),
        ("assistant", 4),
    ]
    assert t.turns[1].name == "search" and t.turns[1].text == '{"q": "x"}'
    assert t.messages == 5 and not t.truncated and t.tools is None


def test_a_response_gives_its_first_choice() -> None:
    resp = ChatResponse("r", "m", [Choice(0, bot("answer"), "stop")])
    t = transcript(chat(user("q")), resp)
    assert t.turns[-1].text == "answer"
    assert transcript(chat(user("q")), ChatResponse("r", "m", [])).messages == 1


def test_only_the_last_messages_are_kept() -> None:
    req = chat(*[user(f"message {i}") for i in range(30)])
    t = transcript(req, limits=Limits(max_messages=10))
    assert [x.index for x in t.turns] == list(range(20, 30))
    assert t.truncated and t.messages == 30


def test_long_text_keeps_its_head_and_mostly_its_tail() -> None:
    text = "START " + "x" * 10_000 + " END"
    (turn,) = transcript(chat(user(text)), limits=Limits(max_chars=100)).turns
    assert len(turn.text) == 100
    assert turn.text.startswith("START ") and turn.text.endswith(" END")
    # Spread over several parts too.
    parts = Message("user", [TextPart("a" * 60), TextPart("b" * 60), TextPart("c" * 60)])
    (turn,) = transcript(chat(parts), limits=Limits(max_chars=50)).turns
    assert turn.text == "a" * 10 + " " + "c" * 39


def test_tool_calls_and_arguments_are_bounded() -> None:
    req = chat(*[call("t", {"i": i}) for i in range(10)], call("big", "y" * 500))
    t = transcript(req, limits=Limits(max_tool_calls=5, max_chars=50))
    assert sum(1 for x in t.turns if x.role == "tool_call") == 5 and t.truncated
    t = transcript(chat(call("big", "y" * 500)), limits=Limits(max_chars=50))
    assert len(t.turns[0].text) == 50 and t.truncated


def test_declared_tools() -> None:
    assert transcript(chat(user("q"), tools=("a", "b"))).tools == frozenset({"a", "b"})
