"""The built-in PII detector on the corpus (every value found, nothing found in the tricky
negatives, precision and recall with the known limits counted), kinds chosen, the cache, and
the scrubber for logs."""

from __future__ import annotations

import pytest
from tests.guard.pii_corpus import KNOWN_LIMITS, NEGATIVES, POSITIVES

from plano.guard.pii import BUILTIN_KINDS, KINDS, PiiDetector, PiiScrubber

DETECTOR = PiiDetector(cache_chars=0)


def found(text: str, detector: PiiDetector = DETECTOR) -> list[tuple[str, str]]:
    return [(text[s:e], kind) for s, e, kind in detector.spans(text)]


@pytest.mark.parametrize(("text", "expected"), POSITIVES, ids=lambda v: str(v)[:40])
def test_every_value_of_the_corpus_is_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", NEGATIVES, ids=lambda v: v[:40])
def test_nothing_is_found_in_the_tricky_negatives(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(("text", "truth"), KNOWN_LIMITS, ids=lambda v: str(v)[:40])
def test_the_known_limits_still_err(text: str, truth: list[tuple[str, str]]) -> None:
    """Documented misses and false alarms: a change here changes the documented figures."""
    assert found(text) != truth


def _scores() -> tuple[int, int, int]:
    tp = fp = fn = 0
    cases = [*POSITIVES, *((t, []) for t in NEGATIVES), *KNOWN_LIMITS]
    for text, truth in cases:
        got = found(text)
        tp += sum(1 for v in got if v in truth)
        fp += sum(1 for v in got if v not in truth)
        fn += sum(1 for v in truth if v not in got)
    return tp, fp, fn


def test_precision_and_recall_on_the_corpus() -> None:
    tp, fp, fn = _scores()
    assert tp >= 60
    # The figures docs/pii.md states (known limits included): 2 false alarms, 3 misses.
    assert (fp, fn) == (2, 3)
    assert tp / (tp + fp) >= 0.96 and tp / (tp + fn) >= 0.95


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_each_kind_alone_finds_its_values(kind: str) -> None:
    """One kind on: its values, and nothing else but where another kind's value was (a
    token in a URL's user part is an address-shaped thing once keys are off)."""
    detector = PiiDetector([kind], cache_chars=0)
    for text, expected in POSITIVES:
        got = found(text, detector)
        assert [v for v in got if v in expected] == [v for v in expected if v[1] == kind]
        others = [value for value, k in expected if k != kind]
        for value, _ in got:
            if (value, kind) not in expected:
                assert any(o in value or value in o for o in others), (text, value)


def test_kinds_are_checked_and_ordered() -> None:
    assert PiiDetector(["ip", "email"]).kinds == ("email", "ip")
    with pytest.raises(ValueError, match="person"):
        PiiDetector(["email", "person"])  # Presidio's kind
    assert PiiDetector([]).spans("bob@example.com") == []
    assert set(KINDS) > set(BUILTIN_KINDS)


def test_a_refused_candidate_leaves_room_for_another_shape() -> None:
    # The card branch is tried first at "4111..." (a failed Luhn), then the phone one.
    assert found("4155550123456 and 415-555-0123") == [("415-555-0123", "phone")]
    # A card followed by more digit groups (a year) is cut back to the card.
    assert found("4111 1111 1111 1111 2027") == [("4111 1111 1111 1111", "card")]
    # An address run on into a word is not one; the same address alone is.
    assert found("git@github.com:org/repo") == []
    assert found("mail git@github.com: now") == [("git@github.com", "email")]


def test_adjacent_values_do_not_overlap() -> None:
    text = "bob@example.com,10.0.0.1,+14155550123"
    assert found(text) == [
        ("bob@example.com", "email"),
        ("10.0.0.1", "ip"),
        ("+14155550123", "phone"),
    ]


def test_long_runs_of_trigger_characters_are_handled() -> None:
    """Inputs made of what starts a candidate (colons, digits, plus signs) find nothing
    and finish (each refused candidate moves the search on; a colon run is skipped whole)."""
    for text in (":" * 5000, "a:" * 5000, "4111 " * 2000, "DE89 " * 2000, "+1" * 5000, "-" * 5000):
        assert DETECTOR.spans(text) == []


def test_the_cache_gives_the_same_spans_and_stays_bounded() -> None:
    detector = PiiDetector(cache_chars=20_000)
    text = "x" * 2000 + " bob@example.com " + "y" * 2000
    first = detector.spans(text)
    assert detector.spans(text) == first == [(2001, 2016, "email")]
    for i in range(20):  # more than the bound: the oldest go
        detector.spans(f"{i} " + "z" * 2000)
    assert detector.spans(text) == first
    short = "a@example.com"  # short texts are not cached
    assert detector.spans(short) == [(0, 13, "email")]


def test_the_scrubber_for_logs() -> None:
    scrubber = PiiScrubber()
    line = "login user=dan@example.net from 203.0.113.7 card 4111111111111111"
    assert scrubber.scrub(line) == "login user=[email] from [ip] card [card]"
    clean = "GET /v1/chat/completions 200 12.5ms"
    assert scrubber.scrub(clean) is clean
    assert scrubber.scrub_optional(None) is None
    only = PiiScrubber(["ip"], placeholder="<{kind}>")
    assert only.scrub(line) == "login user=dan@example.net from <ip> card 4111111111111111"
