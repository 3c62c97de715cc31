"""The built-in PII detector: emails, payment cards, US SSNs, phone numbers, IBANs, IP
addresses and cloud/API keys, found by one regular expression and confirmed by checksums.

::

    detector = PiiDetector(["email", "card"])
    detector.spans("mail bob@example.com")      # [(5, 20, "email")]
    PiiScrubber().scrub("from 10.1.2.3")         # "from [ip]" (for logs)

How it works: one combined pattern (:mod:`plano.guard.pii_patterns`) proposes candidates; a
check per shape (:mod:`plano.guard.pii_checks`) confirms or refuses each (Luhn and issuer for
cards, mod-97 for IBANs, ...). Where a check refuses, the other shapes are tried at that
place, then the search goes on from the next character. Spans never overlap; the earliest
wins. Pure: text in, spans out; the only state is a bounded cache of recent long texts (a
conversation resends its history with every turn, so most of a long prompt was scanned
before).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Literal, TypeAlias, get_args

from plano.guard import pii_checks
from plano.guard.pii_patterns import SECRET_FULL, VARIANTS, combined, single

__all__ = ["BUILTIN_KINDS", "KINDS", "PiiDetector", "PiiKind", "PiiScrubber", "Span"]

#: Every kind of PII a ``pii`` filter may name: the built-in detector's, then Presidio's.
PiiKind: TypeAlias = Literal[
    "email", "card", "ssn", "phone", "iban", "ip", "secret", "person", "location"
]
KINDS: tuple[str, ...] = get_args(PiiKind)
#: What the built-in detector finds (``person`` and ``location`` need Presidio).
BUILTIN_KINDS: tuple[str, ...] = KINDS[:7]

#: ``(start, end, kind)`` of one finding.
Span: TypeAlias = tuple[int, int, str]

#: Texts shorter than this are scanned every time (cheaper than hashing and bookkeeping).
_CACHE_MIN = 1024


class _SpanCache:
    """Spans of recent long texts, bounded by their total length (oldest dropped first)."""

    __slots__ = ("_chars", "_items", "_limit", "_lock")

    def __init__(self, limit_chars: int) -> None:
        self._items: dict[str, tuple[Span, ...]] = {}
        self._chars = 0
        self._limit = limit_chars
        self._lock = threading.Lock()  # Presidio's engine scans on worker threads

    def get(self, text: str) -> tuple[Span, ...] | None:
        with self._lock:
            return self._items.get(text)

    def put(self, text: str, spans: tuple[Span, ...]) -> None:
        if len(text) > self._limit // 4:
            return
        with self._lock:
            if text in self._items:
                return
            self._items[text] = spans
            self._chars += len(text)
            while self._chars > self._limit:
                oldest = next(iter(self._items))
                self._chars -= len(oldest)
                del self._items[oldest]


class PiiDetector:
    """Finds PII of the given kinds (default: every built-in kind). Immutable once built,
    safe to share; ``cache_chars`` bounds the cache of long texts' findings (0: none)."""

    __slots__ = ("_cache", "_check", "_pattern", "_singles", "_skip", "_variants", "kinds")

    def __init__(
        self, kinds: Iterable[str] = BUILTIN_KINDS, *, cache_chars: int = 4_000_000
    ) -> None:
        wanted = set(kinds)
        unknown = wanted - set(BUILTIN_KINDS)
        if unknown:
            raise ValueError(f"not a built-in PII kind: {', '.join(sorted(unknown))}")
        self.kinds: tuple[str, ...] = tuple(k for k in BUILTIN_KINDS if k in wanted)
        self._variants = [v for v in VARIANTS if v.kind in wanted]
        self._pattern = combined(self._variants) if self._variants else None
        self._singles = {v.name: single(v) for v in self._variants}
        self._skip = frozenset(v.name for v in self._variants if v.skip)
        self._check = {v.name: pii_checks.CHECKS.get(v.name, _secret) for v in self._variants}
        self._cache = _SpanCache(cache_chars) if cache_chars else None

    def spans(self, text: str) -> list[Span]:
        """Every finding in ``text``, in order, none overlapping."""
        if self._pattern is None or not text:
            return []
        if self._cache is None or len(text) < _CACHE_MIN:
            return self._scan(text)
        known = self._cache.get(text)
        if known is None:
            known = tuple(self._scan(text))
            self._cache.put(text, known)
        return list(known)

    def kinds_in(self, text: str) -> set[str]:
        return {kind for _, _, kind in self.spans(text)}

    def _scan(self, text: str) -> list[Span]:
        assert self._pattern is not None
        search = self._pattern.search
        out: list[Span] = []
        pos = floor = 0
        while (m := search(text, pos)) is not None:
            name = m.lastgroup
            assert name is not None
            found = self._confirm(text, name, m.start(), m.end(), floor)
            if found is None:
                pos = m.end() if name in self._skip else m.start() + 1
                continue
            out.append(found)
            floor = pos = found[1]
        return out

    def _confirm(self, text: str, name: str, start: int, end: int, floor: int) -> Span | None:
        """The finding the candidate ``name`` at ``start`` stands for, else the first other
        variant (after it, on the same trigger) that matches there and passes its check."""
        span = self._check[name](text, start, end, floor)
        if span is not None:
            return (*span, _KIND[name])
        later = False
        for v in self._variants:
            if v.name == name:
                later = True
                continue
            if not later:
                continue
            m = self._singles[v.name].match(text, start)
            if m is None:
                continue
            span = self._check[v.name](text, start, m.end(), floor)
            if span is not None:
                return (*span, v.kind)
        return None


_KIND = {v.name: v.kind for v in VARIANTS}


def _secret(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """A key shape's detector fired at ``start``: the key is the full shape around it."""
    if text.startswith("-----BEGIN", start):  # a private key block is whole already
        return start, end
    m = SECRET_FULL.search(text, max(floor, start - 12))
    if m is None or not m.start() <= start < m.end():
        return None
    return m.start(), m.end()


class PiiScrubber:
    """PII out of strings for logs: each finding becomes ``placeholder`` (``{kind}`` is its
    kind). Build one at start-up; :meth:`scrub` returns the same object when there is
    nothing to hide."""

    __slots__ = ("_detector", "_placeholder")

    def __init__(
        self,
        kinds: Iterable[str] = BUILTIN_KINDS,
        *,
        placeholder: str = "[{kind}]",
        detector: PiiDetector | None = None,
    ) -> None:
        self._detector = detector or PiiDetector(kinds, cache_chars=0)
        self._placeholder = placeholder

    def scrub(self, text: str) -> str:
        spans = self._detector.spans(text)
        if not spans:
            return text
        pieces: list[str] = []
        at = 0
        for start, end, kind in spans:
            pieces += (text[at:start], self._placeholder.format(kind=kind))
            at = end
        pieces.append(text[at:])
        return "".join(pieces)

    def scrub_optional(self, text: str | None) -> str | None:
        return None if text is None else self.scrub(text)
