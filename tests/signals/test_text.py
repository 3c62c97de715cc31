from __future__ import annotations

import pytest

from plano.signals.text import PhraseSet, jaccard, negated, normalize, trigrams


def test_normalize_lowers_strips_punctuation_and_unicode_quotes() -> None:
    n = normalize("  That\u2019s NOT what I   meant!!  ")
    assert n.words == ["that's", "not", "what", "i", "meant"]
    assert n.lower == "that's not what i meant!!"
    assert n.raw == "  That\u2019s NOT what I   meant!!  "


def test_trigram_jaccard() -> None:
    a = trigrams("hello world")
    assert jaccard(a, a) == 1.0
    assert jaccard(a, trigrams("zzzz")) == 0.0
    assert jaccard(a, frozenset()) == 0.0


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("no, I meant the blue one", "no, i meant"),  # exact, in a longer message
        ("I ALREADY TOLD YOU", "i already told you"),  # case
        ("thats not waht i meant", "not what i meant"),  # typo: trigram layer
        ("meant not what i", "not what i meant"),  # same words: token cosine
        ("i meant what i said", None),  # similar words, but the phrase is negated
        ("the weather in Paris", None),
    ],
)
def test_phrase_set_layers(text: str, want: str | None) -> None:
    phrases = PhraseSet(["no, i meant", "not what i meant", "i already told you"])
    assert phrases.find(normalize(text)) == want


def test_first_phrase_in_list_order_wins() -> None:
    phrases = PhraseSet(["get me a human", "a human"])
    assert phrases.find(normalize("please get me a human now")) == "get me a human"
    assert PhraseSet(["a human", "get me a human"]).find(normalize("get me a human")) == "a human"


def test_cosine_needs_a_shared_content_word() -> None:
    # Same stopwords, different meaning: Plano's plain cosine (0.67) would match these.
    phrases = PhraseSet(["this is frustrating"])
    assert phrases.find(normalize("this is great")) is None
    assert phrases.find(normalize("frustrating, this")) == "this is frustrating"


def test_fuzzy_match_must_agree_on_negation() -> None:
    assert negated(["it", "isn't"]) and negated(["not"]) and not negated(["it", "works"])
    phrases = PhraseSet(["this is working"])
    assert phrases.find(normalize("this is working")) == "this is working"
    assert phrases.find(normalize("why is this not working")) is None


def test_long_messages_skip_the_fuzzy_layers_but_keep_exact_matches() -> None:
    phrases = PhraseSet(["i give up"])
    filler = "lorem ipsum dolor sit amet " * 200
    assert phrases.find(normalize(filler + " ok i give up")) == "i give up"
    assert phrases.find(normalize(filler + " give up i")) is None
