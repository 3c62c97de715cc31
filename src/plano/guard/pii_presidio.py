"""Names and addresses from Presidio, an optional extra (``pip install plano[presidio]``).

Presidio's analyzer with spaCy's small English model finds people and places (``PERSON``,
``LOCATION``) that no regular expression can; it costs 30-50 ms per KB (the built-in
detector: about 0.1) and ~400 MB installed, so it is never the default. Only its spaCy
recognizer is loaded: its pattern recognizers duplicate the built-in detector, and the email
one fetches the public suffix list. A model that is not installed is a start-up error, not a
download (recent Presidio releases download a missing model by themselves).

:class:`PresidioFinder` runs the built-in detector and Presidio and merges their findings
(the built-in one wins where they overlap: its checksums are surer than a model's guess).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from plano.errors import ConfigError
from plano.guard.pii import PiiDetector, Span

__all__ = ["PRESIDIO_ENTITIES", "AnalyzerLike", "PresidioFinder", "available", "load_analyzer"]

#: Presidio entity -> our kind.
PRESIDIO_ENTITIES: dict[str, str] = {"PERSON": "person", "LOCATION": "location"}


class AnalyzerLike(Protocol):
    """What :class:`PresidioFinder` calls (``presidio_analyzer.AnalyzerEngine``)."""

    def analyze(
        self, text: str, language: str, entities: list[str], score_threshold: float
    ) -> Sequence[Any]: ...


def available() -> bool:
    """Whether the optional ``presidio-analyzer`` package is installed."""
    return importlib.util.find_spec("presidio_analyzer") is not None


def load_analyzer(model: str, language: str) -> AnalyzerLike:
    """Presidio's analyzer with only its spaCy recognizer, on ``model``; a
    :class:`ConfigError` saying what to install when the package or the model is missing."""
    if not available():
        raise ConfigError(
            "pii engine 'presidio' needs the optional extra: pip install 'plano[presidio]'"
        )
    import spacy.util
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    if not spacy.util.is_package(model):
        raise ConfigError(
            f"pii engine 'presidio': the spaCy model {model!r} is not installed "
            f"(python -m spacy download {model})"
        )
    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": language, "model_name": model}],
        }
    ).create_engine()
    try:
        registry = RecognizerRegistry(supported_languages=[language])
    except TypeError:  # releases before the argument existed: English only
        registry = RecognizerRegistry()
    registry.add_recognizer(
        SpacyRecognizer(supported_language=language, supported_entities=list(PRESIDIO_ENTITIES))
    )
    engine: AnalyzerLike = AnalyzerEngine(
        registry=registry, nlp_engine=nlp, supported_languages=[language]
    )
    return engine


class PresidioFinder:
    """The built-in detector's findings (``builtin``, ``None`` for none) and Presidio's, for
    the ``kinds`` asked (``person``, ``location``). Presidio's analyzer is not cheap: call
    :meth:`spans` off the event loop."""

    def __init__(
        self,
        analyzer: AnalyzerLike,
        kinds: Iterable[str],
        *,
        builtin: PiiDetector | None = None,
        language: str = "en",
        min_score: float = 0.6,
    ) -> None:
        wanted = set(kinds)
        self.entities = [e for e, kind in PRESIDIO_ENTITIES.items() if kind in wanted]
        self.analyzer = analyzer
        self.builtin = builtin
        self.language = language
        self.min_score = min_score

    def spans(self, text: str) -> list[Span]:
        found = self.builtin.spans(text) if self.builtin is not None else []
        if not self.entities or not text.strip():
            return found
        results = self.analyzer.analyze(
            text=text,
            language=self.language,
            entities=self.entities,
            score_threshold=self.min_score,
        )
        extra = sorted(
            (int(r.start), int(r.end), PRESIDIO_ENTITIES[r.entity_type])
            for r in results
            if r.entity_type in PRESIDIO_ENTITIES and r.score >= self.min_score
        )
        return _merge(found, extra)


def _merge(first: list[Span], second: list[Span]) -> list[Span]:
    """Both lists' spans in order; a span of ``second`` overlapping one kept is dropped."""
    out: list[Span] = []
    for span in sorted([*((s, 0) for s in first), *((s, 1) for s in second)]):
        (start, end, kind), rank = span
        if out and start < out[-1][1]:
            if rank == 0 and out[-1] in second:  # a built-in finding beats a guess
                out[-1] = (start, end, kind)
            continue
        out.append((start, end, kind))
    return out
