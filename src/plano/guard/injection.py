"""The prompt-injection guard: rules, then a small linear model, over a bounded window.

:class:`InjectionModel` is a logistic regression over TF-IDF features
(:mod:`plano.guard.injection_features`) trained offline by ``tools/train_injection.py`` and
exported as plain numbers (``data/injection_model.json.gz``: for each term its idf and its
weight), so scoring is dict lookups and a square root: no scikit-learn, no numpy. A text is
scored in pieces of at most :data:`~plano.guard.injection_features.CHUNK` characters (the
model was trained on short prompts) and its score is its worst piece's.

:class:`InjectionGuard` runs the rules (:mod:`plano.guard.injection_rules`) and the model over
the texts a filter hands it, in that order (the most telling first), within fixed budgets:
the model reads at most :data:`MODEL_CHARS` characters per call and the rules
:data:`RULE_CHARS`; a text longer than what is left is read at both ends (its first quarter
and its last three quarters), the middle skipped. So the cost of a call is bounded whatever
the prompt's size. Pure once loaded: texts in, a :class:`Verdict` out.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from math import exp, log, sqrt
from pathlib import Path
from typing import Any

from plano.guard.injection_features import chunks, features
from plano.guard.injection_rules import match_rules

__all__ = [
    "MODEL_CHARS",
    "RULE_CHARS",
    "InjectionGuard",
    "InjectionModel",
    "Verdict",
    "default_model",
    "window",
]

#: Characters of one call's texts the model reads, and the rules read.
MODEL_CHARS = 8192
RULE_CHARS = 32768
#: The exported model's format; the loader refuses any other.
FORMAT = 1


class InjectionModel:
    """An exported logistic regression over sublinear TF-IDF features, L2-normalized."""

    def __init__(
        self,
        terms: Mapping[str, tuple[float, float]],
        intercept: float,
        *,
        chunk: int,
        threshold: float,
        about: Mapping[str, Any] | None = None,
    ) -> None:
        #: term -> (idf, idf * coefficient)
        self.terms = dict(terms)
        self.intercept = intercept
        self.chunk = chunk
        #: The threshold the training run recommends (the config's default).
        self.threshold = threshold
        self.about = dict(about or {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InjectionModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"injection model format {data.get('format')!r}, expected {FORMAT}")
        terms = {str(t): (float(v[0]), float(v[1])) for t, v in data["terms"].items()}
        return cls(
            terms,
            float(data["intercept"]),
            chunk=int(data["chunk"]),
            threshold=float(data["threshold"]),
            about=data.get("about"),
        )

    @classmethod
    def load(cls, path: Path) -> InjectionModel:
        """A model exported by ``tools/train_injection.py`` (gzip-compressed when the name
        ends in ``.gz``)."""
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return cls.from_json(json.loads(raw))

    def logit(self, text: str) -> float:
        """The decision function of one piece of text (what scikit-learn calls it)."""
        dot = sq = 0.0
        get = self.terms.get
        for term, n in Counter(features(text)).items():
            entry = get(term)
            if entry is None:
                continue
            idf, weight = entry
            if n == 1:  # most terms: tf = 1.0, the same sums with fewer operations
                sq += idf * idf
                dot += weight
                continue
            tf = 1.0 + log(n)
            value = tf * idf
            sq += value * value
            dot += tf * weight
        return self.intercept + (dot / sqrt(sq) if sq else 0.0)

    def probability(self, text: str) -> float:
        """The probability that one piece of text is an injection."""
        return _sigmoid(self.logit(text))

    def score(self, text: str) -> float:
        """``text``'s score: its worst piece's probability."""
        return max(self.probability(piece) for piece in chunks(text, self.chunk))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    z = exp(x)
    return z / (1.0 + z)


@lru_cache(maxsize=1)
def default_model() -> InjectionModel:
    """The model shipped in the package (loaded once per process)."""
    ref = resources.files("plano.guard").joinpath("data/injection_model.json.gz")
    return InjectionModel.from_json(json.loads(gzip.decompress(ref.read_bytes())))


@dataclass(frozen=True, slots=True)
class Verdict:
    """How much the texts look like an injection: ``score`` in [0, 1] (1.0 when a rule
    matched) and the names of the rules that matched."""

    score: float
    rules: tuple[str, ...] = ()

    def header(self) -> str:
        """The ``x-plano-injection`` header's value: ``score=0.97`` (and ``; rules=...``)."""
        value = f"score={self.score:.2f}"
        return f"{value}; rules={','.join(self.rules)}" if self.rules else value


def window(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters; else its first quarter and last three
    quarters of ``limit`` (an injection is most often at the start or the end of a text)."""
    if len(text) <= limit:
        return text
    head = limit // 4
    return f"{text[:head]}\n{text[len(text) - (limit - head) :]}"


class InjectionGuard:
    """Rules and (unless ``model`` is ``None``) the model, within fixed budgets."""

    def __init__(
        self,
        model: InjectionModel | None,
        *,
        model_chars: int = MODEL_CHARS,
        rule_chars: int = RULE_CHARS,
    ) -> None:
        self.model = model
        self.model_chars = model_chars
        self.rule_chars = rule_chars

    def check(self, texts: Iterable[str]) -> Verdict:
        """The verdict on ``texts``, the most telling first (later ones get what budget is
        left)."""
        rules: list[str] = []
        best = 0.0
        rule_left, model_left = self.rule_chars, self.model_chars
        for text in texts:
            if not text:
                continue
            if rule_left > 0:
                seen = window(text, rule_left)
                rule_left -= len(seen)
                rules += (r for r in match_rules(seen) if r not in rules)
            if rules:
                continue  # the score is already 1.0; the rest is for the names only
            if self.model is not None and model_left > 0:
                seen = window(text, model_left)
                model_left -= len(seen)
                best = max(best, self.model.score(seen))
        if rules:
            return Verdict(1.0, tuple(rules))
        return Verdict(best)
