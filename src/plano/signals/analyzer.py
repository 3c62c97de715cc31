"""One conversation in, one :class:`~plano.signals.report.SignalReport` out.

Every detector is a row of :data:`DETECTORS`; the analysis runs them over the bounded
transcript, groups what they found by category and scores the conversation as Plano does:
a score starts at 50, satisfaction raises it, every kind of trouble lowers it, and an
explicit escalation or quit (or severe disengagement or stagnation) makes it severe at once.
Pure and bounded: the transcript's limits cap the work, no model is called.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar, cast

from plano.signals import execution, interaction
from plano.signals.interaction import Hit, Said, Settings
from plano.signals.report import (
    CATEGORIES,
    CategoryResult,
    Quality,
    Signal,
    SignalReport,
    quality_band,
    severity,
)
from plano.signals.text import Normalized, jaccard, normalize
from plano.signals.transcript import Transcript

__all__ = ["DETECTORS", "Analysis", "Memo", "analyze"]


class Memo:
    """Results by the texts they were computed from, for the last ``size`` keys: what each
    message shows alone, how similar two messages are. A conversation's history comes back
    with every turn; only its new messages need reading. Keep one per thread (plain dicts).
    """

    __slots__ = ("_got", "hits", "misses", "size")

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._got: dict[tuple[str, ...], object] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...], read: Callable[[], T]) -> T:
        got = self._got.pop(key, _MISSING)  # popped and put back: the newest stay
        if got is _MISSING:
            self.misses += 1
            got = read()
            if len(self._got) >= self.size:
                del self._got[next(iter(self._got))]
        else:
            self.hits += 1
        self._got[key] = got
        return cast(T, got)

    def __len__(self) -> int:
        return len(self._got)


T = TypeVar("T")
_MISSING = object()


def _none(key: tuple[str, ...], read: Callable[[], T]) -> T:
    return read()


@dataclass(slots=True)
class Analysis:
    """What the detectors read: the transcript, its user and assistant messages normalised
    once with what each shows alone, and what each tool result shows alone."""

    transcript: Transcript
    settings: Settings
    said: list[Said] = field(default_factory=list)
    tool_hits: list[tuple[Hit, ...]] = field(default_factory=list)
    memo: Memo | None = None

    def similar(self, a: Normalized, b: Normalized) -> float:
        """Trigram Jaccard of two messages (remembered: a history is compared again with
        every turn)."""
        if self.memo is None:
            return jaccard(a.grams, b.grams)
        return self.memo.get(("pair", a.raw, b.raw), lambda: jaccard(a.grams, b.grams))

    @classmethod
    def of(cls, t: Transcript, settings: Settings, memo: Memo | None = None) -> Analysis:
        get = memo.get if memo is not None else _none
        said: list[Said] = []
        tools: list[tuple[Hit, ...]] = []
        for turn in t.turns:
            if turn.role == "tool":
                tools.append(get(("tool", turn.text), partial(execution.tool_hits, turn.text)))
            elif turn.role != "tool_call":
                n = normalize(turn.text)
                hits: tuple[Hit, ...] = ()
                if turn.role == "user":
                    hits = get(("user", turn.text), partial(interaction.user_hits, n))
                said.append(Said(turn.role, turn.index, n, hits))
        return cls(t, settings, said, tools, memo)

    @property
    def user_turns(self) -> int:
        return sum(1 for s in self.said if s.role == "user")


Detector = Callable[[Analysis], Iterable[Signal]]

#: Every detector, in report order.
DETECTORS: tuple[Detector, ...] = (
    lambda a: interaction.placed(a.said),
    lambda a: interaction.restatements(a.said),
    lambda a: interaction.repetition(a.said, a.settings, a.similar),
    lambda a: execution.placed(a.transcript, a.tool_hits),
    lambda a: execution.loops(a.transcript),
)

_DEFAULT = Settings()


def analyze(t: Transcript, settings: Settings = _DEFAULT, memo: Memo | None = None) -> SignalReport:
    """The report of one conversation. ``memo``: per-message results kept across calls
    (same report, less work for histories seen before)."""
    a = Analysis.of(t, settings, memo)
    signals: list[Signal] = []
    for detect in DETECTORS:
        signals.extend(detect(a))
    users = a.user_turns
    efficiency = interaction.dragging(users, settings)
    if efficiency < settings.dragging_below:
        last = t.turns[-1].index if t.turns else 0
        signals.append(
            Signal("interaction.stagnation", "dragging", last, 1.0 - efficiency, f"{users} turns")
        )
    counts = Counter(s.category for s in signals)
    categories = tuple(
        CategoryResult(c, counts[c.key], severity(counts[c.key])) for c in CATEGORIES
    )
    by_key = {c.category.key: c for c in categories}
    leaves = {s.type for s in signals}
    quality, score = _quality(by_key, leaves, users)
    return SignalReport(
        quality=quality,
        quality_score=score,
        turn_count=users,
        assistant_turns=len(a.said) - users,
        efficiency_score=efficiency,
        categories=categories,
        signals=tuple(sorted(signals, key=lambda s: s.message_index)),
        flagged=_flagged(quality, by_key),
        messages=t.messages,
        truncated=t.truncated,
    )


_GIVING_UP = ("interaction.disengagement.escalation", "interaction.disengagement.quit")


def _quality(
    by: dict[str, CategoryResult], leaves: set[str], user_turns: int
) -> tuple[Quality, float]:
    dis = by["interaction.disengagement"]
    stag = by["interaction.stagnation"]
    if any(t in leaves for t in _GIVING_UP) or dis.severity >= 3 or stag.severity >= 3:
        return "severe", 0.0
    score = 50.0
    sat = by["interaction.satisfaction"].count
    if sat:
        score += 20.0 * (0.6 if sat == 1 else 0.8 if sat == 2 else 0.95)
    score -= dis.severity * 10.0
    mis = by["interaction.misalignment"]
    if mis.severity and user_turns and mis.count / user_turns > 0.3:
        score -= 15.0
    if stag.count > 2:
        score -= stag.severity * 8.0
    score -= by["execution.failure"].count * 8.0
    score -= by["execution.loops"].count * 5.0
    score -= by["environment.exhaustion"].count * 3.0
    score = min(100.0, max(0.0, score))
    return quality_band(score), score


def _flagged(quality: Quality, by: dict[str, CategoryResult]) -> bool:
    return (
        quality in ("poor", "severe")
        or by["interaction.disengagement"].count > 0
        or by["interaction.stagnation"].count > 2
        or by["execution.failure"].count > 0
        or by["execution.loops"].count > 0
    )
