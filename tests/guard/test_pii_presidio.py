"""The optional Presidio engine: its findings merged with the built-in detector's (with a
stand-in analyzer, so this runs without the extra), a clear error when the extra or its
model is missing, and a real run when ``presidio-analyzer`` is installed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from plano.errors import ConfigError
from plano.guard import pii_presidio
from plano.guard.pii import PiiDetector
from plano.guard.pii_presidio import PresidioFinder


@dataclass
class Result:
    entity_type: str
    start: int
    end: int
    score: float


class StandIn:
    """Finds the words it is told to, as Presidio reports them."""

    def __init__(self, **words: tuple[str, float]) -> None:
        self.words = words
        self.calls: list[dict[str, Any]] = []

    def analyze(
        self, text: str, language: str, entities: list[str], score_threshold: float
    ) -> Sequence[Any]:
        self.calls.append({"language": language, "entities": entities, "min": score_threshold})
        out = []
        for word, (entity, score) in self.words.items():
            at = text.find(word)
            if at >= 0 and entity in entities:
                out.append(Result(entity, at, at + len(word), score))
        return out


TEXT = "Dear Alice Martin of 12 Rue de Rivoli, Paris: write to alice@example.com"


def found(finder: PresidioFinder, text: str = TEXT) -> list[tuple[str, str]]:
    return [(text[s:e], kind) for s, e, kind in finder.spans(text)]


def test_names_and_places_join_the_builtin_findings() -> None:
    analyzer = StandIn(
        **{"Alice Martin": ("PERSON", 0.85), "12 Rue de Rivoli, Paris": ("LOCATION", 0.7)}
    )
    finder = PresidioFinder(
        analyzer, ["email", "person", "location"], builtin=PiiDetector(["email"])
    )
    assert found(finder) == [
        ("Alice Martin", "person"),
        ("12 Rue de Rivoli, Paris", "location"),
        ("alice@example.com", "email"),
    ]
    assert analyzer.calls == [{"language": "en", "entities": ["PERSON", "LOCATION"], "min": 0.6}]


def test_low_scores_and_unasked_kinds_are_dropped() -> None:
    analyzer = StandIn(
        **{"Alice Martin": ("PERSON", 0.4), "12 Rue de Rivoli, Paris": ("LOCATION", 0.9)}
    )
    assert found(PresidioFinder(analyzer, ["person"])) == []  # scored under min_score
    assert found(PresidioFinder(analyzer, ["location"], min_score=0.9)) == [
        ("12 Rue de Rivoli, Paris", "location")
    ]


def test_a_builtin_finding_wins_over_an_overlapping_guess() -> None:
    analyzer = StandIn(**{"alice@example": ("PERSON", 0.9)})  # a model's odd guess
    finder = PresidioFinder(analyzer, ["person", "email"], builtin=PiiDetector(["email"]))
    assert found(finder) == [("alice@example.com", "email")]


def test_empty_text_is_not_sent_to_the_model() -> None:
    analyzer = StandIn()
    assert PresidioFinder(analyzer, ["person"]).spans("   ") == []
    assert analyzer.calls == []


@pytest.mark.skipif(
    pii_presidio.available(), reason="presidio-analyzer is installed: the missing case is moot"
)
def test_without_the_extra_start_up_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'plano\[presidio\]'"):
        pii_presidio.load_analyzer("en_core_web_sm", "en")


def test_a_real_presidio_finds_a_name() -> None:
    pytest.importorskip(
        "presidio_analyzer",
        reason="optional extra not installed (pip install 'plano[presidio]'; ~400 MB with "
        "its spaCy model, so not in the dev environment)",
    )
    spacy_util = pytest.importorskip("spacy.util")
    if not spacy_util.is_package("en_core_web_sm"):
        pytest.skip("spaCy model en_core_web_sm not installed")
    finder = PresidioFinder(
        pii_presidio.load_analyzer("en_core_web_sm", "en"),
        ["person", "email"],
        builtin=PiiDetector(["email"]),
    )
    kinds = {kind for _, kind in found(finder, "My name is John Smith, john@example.com.")}
    assert kinds == {"person", "email"}
