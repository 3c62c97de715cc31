from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.signals.support import bot, call, chat, result, user

from plano.signals import (
    CATEGORIES,
    LEAVES,
    analyze,
    signals_attributes,
    signals_events,
    transcript,
)

DOC = Path(__file__).parents[2] / "docs" / "signals.md"


def test_top_level_attributes_always_and_categories_only_when_fired() -> None:
    r = analyze(transcript(chat(user("hello"), bot("hi"))))
    assert signals_attributes(r) == {
        "signals.quality": "neutral",
        "signals.quality_score": 50.0,
        "signals.turn_count": 1,
        "signals.efficiency_score": 1.0,
    }
    assert signals_events(r) == []


def test_layered_keys_and_events() -> None:
    msgs = [user("pay the invoice")]
    for _ in range(3):
        msgs += [call("pay", {"id": 1}), result("HTTP 429 too many requests")]
    r = analyze(transcript(chat(*msgs)))
    attrs = signals_attributes(r)
    assert attrs["signals.execution.loops.count"] == 1
    assert attrs["signals.execution.loops.severity"] == 1
    assert attrs["signals.environment.exhaustion.count"] == 3
    assert attrs["signals.environment.exhaustion.severity"] == 2
    assert "signals.execution.failure.count" not in attrs
    names = [n for n, _ in signals_events(r)]
    assert (
        names == ["signal.execution.loops.retry"] + ["signal.environment.exhaustion.rate_limit"] * 3
    )
    _, first = signals_events(r)[0]
    assert first["signal.type"] == "execution.loops.retry"
    assert first["signal.message_index"] == 1
    assert 0 < float(first["signal.confidence"]) <= 1


def test_the_taxonomy_matches_plano() -> None:
    assert [c.key for c in CATEGORIES] == [
        "interaction.misalignment",
        "interaction.stagnation",
        "interaction.disengagement",
        "interaction.satisfaction",
        "execution.failure",
        "execution.loops",
        "environment.exhaustion",
    ]
    assert sum(len(v) for v in LEAVES.values()) == 25


def test_snippets_never_carry_the_users_text() -> None:
    secret = "my card is 4111 1111 1111 1111, get me a human NOW!!"
    r = analyze(transcript(chat(user(secret))))
    assert r.signals
    for _, attrs in signals_events(r):
        assert "4111" not in str(attrs["signal.snippet"])


def test_the_docs_examples_run_and_print_what_they_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    scope: dict[str, object] = {}
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), scope)
        printed = out.getvalue().split()
        said = " ".join(
            line.lstrip("# ") for line in code.splitlines() if line.startswith("#")
        ).split()
        assert printed == said
