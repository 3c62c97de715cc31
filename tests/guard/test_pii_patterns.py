"""The combined pattern: one leading character set (``re``'s fast skip), every variant with a
check, each variant alone matching where the combined pattern does."""

from __future__ import annotations

from re import _constants, _parser  # type: ignore[attr-defined]

from tests.guard.pii_corpus import POSITIVES

from plano.guard import pii_checks
from plano.guard.pii_patterns import SECRET_FULL, VARIANTS, combined, single


def test_the_combined_pattern_starts_with_one_character_set() -> None:
    """What lets ``re`` skip, in C, every character that starts no candidate."""
    parsed = _parser.parse(combined(list(VARIANTS)).pattern)
    op, _ = parsed.data[0]
    assert op is _constants.IN


def test_every_variant_has_a_check_or_is_a_key_shape() -> None:
    for v in VARIANTS:
        assert v.name in pii_checks.CHECKS or v.kind == "secret", v.name
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))


def test_each_variant_alone_matches_where_the_combined_pattern_proposed_it() -> None:
    pattern = combined(list(VARIANTS))
    singles = {v.name: single(v) for v in VARIANTS}
    for text, _ in POSITIVES:
        for m in pattern.finditer(text):
            assert m.lastgroup is not None
            alone = singles[m.lastgroup].match(text, m.start())
            assert alone is not None and alone.end() == m.end(), (text, m.group())


def test_key_shapes_are_the_secret_scrubbers() -> None:
    assert SECRET_FULL.search("key sk-proj-Abc123Def456Ghi789Jkl012 here") is not None
    assert SECRET_FULL.search("task-management-framework-2024") is None
