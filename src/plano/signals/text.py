"""Text normalisation and phrase matching without a model.

A phrase matches a message in one of three ways, cheapest first (as Plano detects):

1. exact: the phrase's words appear in order in the message's words (one substring search,
   only for phrases whose rarest word the message holds);
2. character trigrams: Jaccard similarity of the whole (short) message and the phrase at
   least 0.65 (typos, missing apostrophes: "thats not waht i meant");
3. token cosine: cosine of the word counts at least 0.60 ("human agent please" vs "get me a
   human"), for phrases that share a content word (not a stopword) with the message: unlike
   Plano, "this is great" then does not look like "this is frustrating".

Cost stays linear in the message: exact matching intersects the message's words with an
index of the phrases' rarest words; the fuzzy layers run only for short messages (a long
message cannot reach the thresholds against a phrase of a few words), against phrases of a
comparable size or sharing a content word. A fuzzy match also needs the message and the
phrase to agree on negation: "this is not working" is no "this is working".
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "STOPWORDS",
    "Normalized",
    "PhraseSet",
    "jaccard",
    "negated",
    "normalize",
    "trigrams",
]

_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_UNICODE = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)
_NON_WORD = str.maketrans({c: None for c in _PUNCT})

STOPWORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my myself now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself""".split()
)

_NEGATIONS = frozenset(
    "not no never nothing nobody none cannot cant dont doesnt didnt isnt wasnt wont arent".split()
)


def negated(words: Iterable[str]) -> bool:
    """Whether the words hold a negation ("not", "never", "don't"...)."""
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


#: Characters of each end of a long text its trigrams are taken from.
GRAM_SPAN = 300

#: Char-trigram Jaccard and token-cosine thresholds (Plano's).
NGRAM_THRESHOLD = 0.65
COSINE_THRESHOLD = 0.60


def trigrams(text: str) -> frozenset[str]:
    return frozenset(map("".join, zip(text, text[1:], text[2:], strict=False)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(slots=True)
class Normalized:
    """A message's text, lower-cased, with words stripped of surrounding punctuation."""

    raw: str
    lower: str
    _words: list[str] | None = field(default=None, repr=False)
    _grams: frozenset[str] | None = field(default=None, repr=False)
    _counts: Counter[str] | None = field(default=None, repr=False)
    _negated: bool | None = field(default=None, repr=False)
    _joined: str | None = field(default=None, repr=False)
    _wordset: frozenset[str] | None = field(default=None, repr=False)

    @property
    def grams(self) -> frozenset[str]:
        """Character trigrams of the words joined by one space, punctuation removed; of a
        long text, of its first and last :data:`GRAM_SPAN` characters (what a near-duplicate
        shares too, at a bounded cost)."""
        if self._grams is None:
            text = self.lower
            if len(text) > 2 * GRAM_SPAN:  # cut first: the rest is per character
                text = text[:GRAM_SPAN] + "|" + text[-GRAM_SPAN:]
            self._grams = trigrams(" ".join(text.translate(_NON_WORD).split()))
        return self._grams

    @property
    def words(self) -> list[str]:
        """The words, stripped of the punctuation around them (computed when first asked:
        a long assistant message is only compared by its trigrams)."""
        if self._words is None:
            self._words = [w for w in (x.strip(_PUNCT) for x in self.lower.split(" ")) if w]
        return self._words

    @property
    def size(self) -> int:
        """About how many words (spaces + 1; no per-word work)."""
        return self.lower.count(" ") + 1 if self.lower else 0

    @property
    def counts(self) -> Counter[str]:
        """How often each word occurs, punctuation removed."""
        if self._counts is None:
            self._counts = Counter(self.lower.translate(_NON_WORD).split())
        return self._counts

    @property
    def joined(self) -> str:
        """The words joined by single spaces, with a space at each end (so a phrase's words
        are found whole with one substring search)."""
        if self._joined is None:
            self._joined = f" {' '.join(self.words)} "
        return self._joined

    @property
    def wordset(self) -> frozenset[str]:
        if self._wordset is None:
            self._wordset = frozenset(self.words)
        return self._wordset

    @property
    def negated(self) -> bool:
        if self._negated is None:
            self._negated = not _NEGATIONS.isdisjoint(self.wordset) or "n't" in self.lower
        return self._negated

    def startswith(self, prefixes: tuple[str, ...]) -> bool:
        return self.lower.startswith(prefixes)


def normalize(text: str) -> Normalized:
    return Normalized(text, " ".join(text.translate(_UNICODE).lower().split()))


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    words: tuple[str, ...]
    #: `` w1 w2 `` : what :attr:`Normalized.joined` contains when the phrase is there.
    needle: str
    grams: frozenset[str]
    counts: Counter[str]
    norm: float
    negated: bool


class PhraseSet:
    """A list of phrases matched in the three layers above; :meth:`find` returns the first
    phrase (in list order) that matches, so put the most specific first."""

    def __init__(
        self,
        phrases: Sequence[str],
        *,
        ngram: float = NGRAM_THRESHOLD,
        cosine: float = COSINE_THRESHOLD,
        fuzzy: Collection[str] | None = None,
    ) -> None:
        """``fuzzy``: the phrases the fuzzy layers try (default: all); a long list of
        variants is matched exactly, its canonical few also fuzzily."""
        self._ngram = ngram
        self._cosine = cosine
        self._phrases: list[_Phrase] = []
        #: Phrases by their rarest word (the longest that is not a stopword): a message
        #: holds a phrase only if it holds that word.
        self._by_key: dict[str, list[int]] = {}
        self._by_word: dict[str, list[int]] = {}
        #: (index, trigram count) of the phrases the fuzzy layers try.
        self._fuzzy_sizes: list[tuple[int, int]] = []
        for i, text in enumerate(phrases):
            n = normalize(text)
            p = _Phrase(
                text,
                tuple(n.words),
                n.joined,
                n.grams,
                n.counts,
                math.sqrt(sum(v * v for v in n.counts.values())),
                n.negated,
            )
            self._phrases.append(p)
            if p.words:
                key = max(p.words, key=lambda w: (w not in STOPWORDS, len(w)))
                self._by_key.setdefault(key, []).append(i)
            if fuzzy is not None and text not in fuzzy:
                continue
            self._fuzzy_sizes.append((i, len(p.grams)))
            for w in p.counts:
                if w not in STOPWORDS:
                    self._by_word.setdefault(w, []).append(i)
        self._keys = frozenset(self._by_key)
        self._fuzzy_sizes.sort(key=lambda e: e[1])
        self._sizes = [size for _, size in self._fuzzy_sizes]
        #: A message with more trigrams than this cannot reach ``ngram`` with any phrase.
        self._max_grams = max((len(p.grams) for p in self._phrases), default=0) / ngram
        #: Nor more distinct words than this reach ``cosine`` (cos <= sqrt(k / n) for a
        #: phrase of k distinct words against n).
        most = max((len(p.counts) for p in self._phrases), default=0)
        self._max_content = most / (cosine * cosine) if cosine > 0 else float("inf")

    def __len__(self) -> int:
        return len(self._phrases)

    def find(self, msg: Normalized) -> str | None:
        """The first phrase that matches ``msg``, or ``None``."""
        hit = self._exact(msg)
        if hit is not None:
            return self._phrases[hit].text
        fuzzy = self._fuzzy(msg)
        return self._phrases[fuzzy].text if fuzzy is not None else None

    def _exact(self, msg: Normalized) -> int | None:
        best: int | None = None
        keys = self._keys & msg.wordset  # C set work; usually empty
        if keys:
            joined = msg.joined
            for key in keys:
                for k in self._by_key[key]:
                    if (best is None or k < best) and self._phrases[k].needle in joined:
                        best = k
        return best

    def _fuzzy(self, msg: Normalized) -> int | None:
        best: int | None = None
        # Text has about as many distinct trigrams as characters: a message much longer than
        # the limit is not worth building them for.
        if len(msg.lower) <= 1.3 * self._max_grams + 2:
            grams = msg.grams
            if grams and len(grams) <= self._max_grams:
                # Jaccard >= t needs sizes within a factor t: only that slice of the phrases
                # (sorted by size) is tried, in list order.
                lo = bisect_left(self._sizes, len(grams) * self._ngram)
                hi = bisect_right(self._sizes, len(grams) / self._ngram)
                for k in sorted(k for k, _ in self._fuzzy_sizes[lo:hi]):
                    p = self._phrases[k]
                    if p.negated == msg.negated and jaccard(grams, p.grams) >= self._ngram:
                        best = k
                        break
        if msg.size > 4 * self._max_content:
            return best
        counts = msg.counts
        if not counts or len(counts) > self._max_content:
            return best
        by_word = self._by_word
        candidates = {k for w in counts for k in by_word.get(w, ())}
        if not candidates:
            return best
        norm = math.sqrt(sum(v * v for v in counts.values()))
        for k in sorted(candidates):
            if best is not None and k >= best:
                break
            p = self._phrases[k]
            if p.negated != msg.negated:
                continue
            dot = sum(counts[x] * c for x, c in p.counts.items())
            if dot >= self._cosine * norm * p.norm:
                return k
        return best
