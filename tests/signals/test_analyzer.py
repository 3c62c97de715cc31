"""Scripted conversations with known loops, repetition and frustration, and clean ones that
must report nothing."""

from __future__ import annotations

import pytest
from tests.signals.support import bot, call, chat, result, system, user

from plano.core.model import ChatRequest, Message
from plano.signals import SignalReport, analyze, transcript
from plano.signals.report import quality_band, severity


def run(req: ChatRequest, answer: Message | None = None) -> SignalReport:
    return analyze(transcript(req, answer))


def types(r: SignalReport) -> list[str]:
    return [s.type for s in r.signals]


CLEAN = {
    "greeting": chat(
        user("Hello, can you help me with a question?"), bot("Of course, what is it?")
    ),
    "coding": chat(
        system("You are a coding assistant."),
        user("Write a Python function that reverses a list."),
        bot("def reverse(xs):\n    return xs[::-1]"),
        user("Can you add type hints to it?"),
        bot("def reverse(xs: list[int]) -> list[int]:\n    return xs[::-1]"),
    ),
    "travel": chat(
        user("What is the capital of France?"),
        bot("Paris."),
        user("And how far is it from Berlin by train?"),
        bot("About 8 hours on the fastest connections."),
        user("What about Madrid?"),
        bot("Madrid to Paris takes around 10 hours by train."),
    ),
    "tools_ok": chat(
        user("What's the weather in Lisbon and Porto?"),
        call("get_weather", {"city": "Lisbon"}, "a"),
        result('{"temp": 21, "sky": "clear"}', "a"),
        call("get_weather", {"city": "Porto"}, "b"),
        result('{"temp": 17, "sky": "cloudy"}', "b"),
        bot("Lisbon is 21C and clear; Porto is 17C and cloudy."),
        tools=("get_weather",),
    ),
    "two_tools_once": chat(
        user("Find my last order and its shipping status"),
        call("find_order", {"user": 7}, "a"),
        result('{"order": 991}', "a"),
        call("shipping_status", {"order": 991}, "b"),
        result('{"status": "in transit"}', "b"),
        bot("Order 991 is in transit."),
        tools=("find_order", "shipping_status"),
    ),
    "long_but_varied": chat(
        *[
            m
            for animal, fact in [
                ("octopuses", "three hearts"),
                ("sharks", "no bones"),
                ("owls", "silent flight"),
                ("bees", "waggle dances"),
            ]
            for m in (user(f"Tell me a fact about {animal}"), bot(f"{animal.title()} have {fact}."))
        ]
    ),
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_conversations_report_nothing(name: str) -> None:
    r = run(CLEAN[name])
    assert r.signals == (), types(r)
    assert r.quality == "neutral" and r.quality_score == 50.0
    assert not r.flagged and r.efficiency_score == 1.0


def test_escalation_is_severe() -> None:
    r = run(
        chat(
            user("This isn't helpful at all"),
            bot("I'm sorry, can you tell me more?"),
            user("Get me a human, this is useless"),
        )
    )
    assert "interaction.disengagement.escalation" in types(r)
    assert "interaction.disengagement.negative_stance" in types(r)  # the first message
    assert (r.quality, r.quality_score, r.flagged) == ("severe", 0.0, True)
    assert r.category("interaction.disengagement").count == 2


def test_quitting_is_severe() -> None:
    r = run(chat(user("book a flight"), bot("Where to?"), user("forget it, I'll do it myself")))
    assert r.count("interaction.disengagement.quit") == 1
    assert r.quality == "severe"


def test_frustration_markers() -> None:
    r = run(
        chat(
            user("Why is my export empty"),
            bot("Try exporting again."),
            user("I ALREADY DID THAT, IT IS STILL EMPTY"),
            bot("Please try again."),
            user("what??"),
            bot("Try again later."),
            user("this is a waste of time"),
        )
    )
    d = r.category("interaction.disengagement")
    assert d.count == 4 and d.severity == 2
    assert [s.evidence for s in r.signals if s.category == "interaction.disengagement"] == [
        "all caps",
        "did that already",  # token cosine: "I already did that"
        "?!!",
        "waste of time",
    ]
    assert r.quality == "poor" and r.quality_score == 30.0 and r.flagged


def test_corrections_and_clarifications() -> None:
    r = run(
        chat(
            user("Rename the file report.txt"),
            bot("Renamed notes.txt."),
            user("No, I meant report.txt, not notes.txt"),
            bot("Done, it is now called final.txt"),
            user("What do you mean by final?"),
        )
    )
    assert types(r) == [
        "interaction.misalignment.correction",
        "interaction.misalignment.clarification",
    ]
    # 2 of 3 user turns: over the 30% ratio, minus 15.
    assert (r.quality, r.quality_score) == ("poor", 35.0)


def test_user_restating_the_question_is_a_rephrase() -> None:
    r = run(
        chat(
            user("How do I reset my router password quickly?"),
            bot("Routers come in many kinds."),
            user("Quickly: how to reset router password?"),
        )
    )
    assert types(r) == ["interaction.misalignment.rephrase"]
    assert r.signals[0].evidence == "restated" and r.signals[0].message_index == 2


def test_repeated_answers_are_stagnation() -> None:
    same = "I'm sorry, I can't find a booking under that name. Could you check the spelling?"
    r = run(
        chat(
            user("Find my booking, name Smith"),
            bot(same),
            user("It is Smith, S M I T H"),
            bot(same),
            user("Smith. Booked last week."),
        ),
        bot(same.replace("?", ", please?")),
    )
    reps = [s for s in r.signals if s.type == "interaction.stagnation.repetition"]
    assert [s.message_index for s in reps] == [3, 5]
    assert reps[0].evidence == "exact of message 1"
    assert reps[1].evidence.startswith("near-duplicate of message 3")


def test_a_long_conversation_drags() -> None:
    turns = [
        m
        for i in range(12)
        for m in (user(f"question {i} about topic {i * 7}"), bot(f"answer {i}"))
    ]
    r = run(chat(*turns))
    assert r.turn_count == 12 and r.assistant_turns == 12
    assert r.efficiency_score == pytest.approx(1 / (1 + 0.25 * 7))
    assert types(r) == ["interaction.stagnation.dragging"]
    assert r.signals[0].message_index == 23


def test_nine_turns_do_not_drag() -> None:
    turns = [
        m for i in range(9) for m in (user(f"question {i} about topic {i * 7}"), bot(f"answer {i}"))
    ]
    r = run(chat(*turns))
    assert r.efficiency_score == pytest.approx(1 / (1 + 0.25 * 4)) and r.signals == ()


def test_retry_loop_same_tool_same_arguments() -> None:
    r = run(
        chat(
            user("What's my balance?"),
            call("get_balance", {"account": 1, "currency": "EUR"}),
            result("{}"),
            call("get_balance", {"currency": "EUR", "account": 1}),  # same, keys reordered
            result("{}"),
        ),
        call("get_balance", '{"account":1,"currency":"EUR"}'),
    )
    assert types(r) == ["execution.loops.retry"]
    assert r.signals[0].message_index == 1 and "x3" in r.signals[0].evidence
    assert r.flagged and r.quality_score == 45.0


def test_parameter_drift() -> None:
    msgs = [user("find a cheap hotel")]
    for price in (100, 90, 80, 70):
        msgs += [call("search_hotels", {"max_price": price}), result("[]")]
    r = run(chat(*msgs))
    assert types(r) == ["execution.loops.parameter_drift"]
    assert "x4" in r.signals[0].evidence


def test_oscillation() -> None:
    msgs = [user("sync my calendar")]
    for _ in range(3):
        msgs += [call("read_calendar", {}), result("ok"), call("write_calendar", {}), result("ok")]
    r = run(chat(*msgs))
    assert types(r) == ["execution.loops.oscillation"]
    assert r.signals[0].evidence == "read_calendar > write_calendar x3"


def test_two_cycles_are_no_oscillation_and_two_calls_no_retry() -> None:
    msgs = [user("sync")]
    for _ in range(2):
        msgs += [call("read", {}), result("ok"), call("write", {}), result("ok")]
    assert run(chat(*msgs)).signals == ()
    assert (
        run(chat(user("x"), call("t", {}), result("ok"), call("t", {}), result("ok"))).signals == ()
    )


@pytest.mark.parametrize(
    ("text", "leaf"),
    [
        ("Error: validation failed - expected integer, got string", "invalid_args"),
        ("missing required field: name", "invalid_args"),
        ("Unknown tool 'send_fax'", "tool_not_found"),
        ("HTTP 401 Unauthorized", "auth_misuse"),
        ("error: must call login first", "state_error"),
        ("Invalid query: unknown operator ~~", "bad_query"),
    ],
)
def test_tool_failures(text: str, leaf: str) -> None:
    r = run(chat(user("do it"), call("tool", {"a": 1}), result(text)))
    assert [s.type for s in r.signals if s.category == "execution.failure"] == [
        f"execution.failure.{leaf}"
    ]
    assert r.quality_score <= 42.0 and r.flagged


@pytest.mark.parametrize(
    ("text", "leaf"),
    [
        ("429 Too Many Requests", "rate_limit"),
        ("upstream returned 503 Service Unavailable", "api_error"),
        ("the request timed out after 30s", "timeout"),
        ("connect ECONNREFUSED 10.0.0.1:443", "network"),
        ("failed to decode body: unexpected token <", "malformed_response"),
        ("This model's maximum context length is 8192 tokens", "context_overflow"),
    ],
)
def test_environment_exhaustion(text: str, leaf: str) -> None:
    r = run(chat(user("do it"), call("tool", {}), result(text)))
    assert types(r) == [f"environment.exhaustion.{leaf}"]
    assert r.quality_score == 47.0 and not r.flagged


def test_a_call_to_an_undeclared_tool_is_counted_once() -> None:
    r = run(
        chat(
            user("fax it"), call("send_fax", {}), result("unknown tool send_fax"), tools=("email",)
        )
    )
    assert types(r) == ["execution.failure.tool_not_found"]
    assert r.signals[0].evidence == "undeclared tool"


def test_satisfaction_raises_the_score() -> None:
    r = run(
        chat(
            user("Can you summarize this report?"),
            bot("Here's a summary: revenue grew 4%."),
            user("That's perfect, exactly what I needed!"),
            bot("Glad to help."),
            user("It worked, thank you"),
        )
    )
    assert types(r) == ["interaction.satisfaction.gratitude"] * 2  # thanks before success
    assert (r.quality, r.quality_score) == ("good", 66.0)
    r = run(
        chat(
            user("a"),
            bot("b"),
            user("thanks!"),
            bot("c"),
            user("looks good"),
            bot("d"),
            user("that works"),
        )
    )
    # Plano's scoring tops out at 50 + 19: "excellent" needs more than satisfaction alone.
    assert r.category("interaction.satisfaction").count == 3
    assert (r.quality, r.quality_score) == ("good", 69.0)


def test_agreeing_is_not_negative_or_repetitive() -> None:
    r = run(
        chat(
            user("Yes please, go ahead and book the 9am slot for me"),
            bot("Booked."),
            user("Yes please, go ahead and book the 9am slot for me"),
            user("ok!!"),
        )
    )
    assert r.signals == ()


def test_severe_stagnation_is_severe_quality() -> None:
    same = "Let me check that for you, one moment please while I look it up."
    msgs = [user("where is my parcel")]
    for i in range(6):
        msgs += [bot(same), user(f"ok {i}")]
    r = run(chat(*msgs))
    assert r.category("interaction.stagnation").severity == 3
    assert r.quality == "severe"


def test_signals_are_in_message_order_and_the_report_is_frozen() -> None:
    r = run(chat(user("get me a manager"), bot("ok"), user("no, I meant a supervisor")))
    assert [s.message_index for s in r.signals] == sorted(s.message_index for s in r.signals)
    with pytest.raises(AttributeError):
        r.quality = "good"  # type: ignore[misc]


def test_bounded_analysis_of_a_huge_conversation() -> None:
    msgs = [m for i in range(5000) for m in (user("word " * 5000 + str(i)), bot("reply " * 5000))]
    r = run(chat(*msgs))
    assert r.truncated and r.messages == 10000 and r.turn_count == 50


def test_severity_and_bands() -> None:
    assert [severity(n) for n in (0, 1, 2, 3, 4, 5, 50)] == [0, 1, 1, 2, 2, 3, 3]
    assert [quality_band(s) for s in (100, 75, 74.9, 60, 40, 39, 25, 24.9, 0)] == [
        "excellent", "excellent", "good", "good", "neutral", "poor", "poor", "severe", "severe",
    ]  # fmt: skip


def test_a_memo_gives_the_same_reports_and_remembers_messages() -> None:
    from plano.signals import Memo

    convo = [
        user("where is my order?"),
        bot("Checking."),
        call("find", {"id": 1}),
        result("HTTP 503 service unavailable"),
        user("this is useless, get me a human!!"),
    ]
    memo = Memo(size=3)
    first = analyze(transcript(chat(*convo)), memo=memo)
    assert first == run(chat(*convo))
    misses = memo.misses
    again = analyze(transcript(chat(*convo, bot("Sorry."), user("thanks"))), memo=memo)
    assert again == run(chat(*convo, bot("Sorry."), user("thanks")))
    assert memo.hits >= 2 and memo.misses == misses + 1  # only the new user message was read
    assert len(memo) <= 3


def test_every_fuzzy_phrase_is_in_its_list() -> None:
    from plano.signals.phrases import FUZZY, USER_PHRASES

    for key, phrases in FUZZY.items():
        assert phrases <= set(USER_PHRASES[key])


@pytest.mark.parametrize(
    "prompt",
    [
        "Can you explain how a hash map works?",
        "Summarize this article in three bullet points: the council voted to expand bike lanes.",
        "Why does my Python script raise KeyError when the key exists?",
        "The deploy failed with a timeout error, how do I debug it?",
        "Great, now add error handling.",
        "Yes please do that.",
        "No, use Python instead of JavaScript.",
        "Actually, make it async.",
        "Please speak to the manager's concerns in the memo.",
        "I need to talk to support about my billing, can you draft the message?",
        "Forget the previous style, use bullet points.",
        "This is great work on the parser, but the lexer needs tests.",
        "Why is this not working in Safari? It works in Chrome.",
    ],
)
def test_ordinary_requests_fire_nothing(prompt: str) -> None:
    r = run(chat(user(prompt)))
    assert [s.type for s in r.signals if s.category != "interaction.satisfaction"] == []
