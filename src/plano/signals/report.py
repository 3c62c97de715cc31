"""The signal taxonomy and the frozen report an analysis returns.

Three layers (interaction, execution, environment), seven categories, one leaf type per
detected instance, as Plano names them: ``interaction.misalignment.correction``,
``execution.loops.retry``, ``environment.exhaustion.rate_limit``... The names are data here
(:data:`CATEGORIES`), so metrics, span keys and the summary endpoint iterate them instead of
spelling them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

__all__ = [
    "CATEGORIES",
    "LEAVES",
    "QUALITIES",
    "Category",
    "CategoryResult",
    "Quality",
    "Signal",
    "SignalReport",
    "quality_band",
    "severity",
]

Quality: TypeAlias = Literal["excellent", "good", "neutral", "poor", "severe"]

#: Best first; the bands' lower bounds are in :func:`quality_band`.
QUALITIES: tuple[Quality, ...] = ("excellent", "good", "neutral", "poor", "severe")


@dataclass(frozen=True, slots=True)
class Category:
    layer: str
    name: str

    @property
    def key(self) -> str:
        """``<layer>.<category>``: the middle of the span keys ``signals.<key>.count``."""
        return f"{self.layer}.{self.name}"


#: Every category, in the order reports list them.
CATEGORIES: tuple[Category, ...] = (
    Category("interaction", "misalignment"),
    Category("interaction", "stagnation"),
    Category("interaction", "disengagement"),
    Category("interaction", "satisfaction"),
    Category("execution", "failure"),
    Category("execution", "loops"),
    Category("environment", "exhaustion"),
)

#: The leaf types of each category (``<layer>.<category>`` -> leaves).
LEAVES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "interaction.misalignment": ("correction", "rephrase", "clarification"),
        "interaction.stagnation": ("dragging", "repetition"),
        "interaction.disengagement": ("escalation", "quit", "negative_stance"),
        "interaction.satisfaction": ("gratitude", "confirmation", "success"),
        "execution.failure": (
            "invalid_args",
            "bad_query",
            "tool_not_found",
            "auth_misuse",
            "state_error",
        ),
        "execution.loops": ("retry", "parameter_drift", "oscillation"),
        "environment.exhaustion": (
            "api_error",
            "timeout",
            "rate_limit",
            "network",
            "malformed_response",
            "context_overflow",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Signal:
    """One detected instance."""

    #: ``<layer>.<category>``, e.g. ``interaction.disengagement``.
    category: str
    #: The leaf, e.g. ``escalation``.
    leaf: str
    #: Index of the message that fired it, in the analysed conversation (system messages
    #: counted, so it points into the request's ``messages``; the answer comes last).
    message_index: int
    confidence: float = 1.0
    #: What matched: the phrase or rule, never the user's own text (traces carry no content
    #: unless configured).
    evidence: str = ""

    @property
    def type(self) -> str:
        """The full dotted type, e.g. ``interaction.disengagement.escalation``."""
        return f"{self.category}.{self.leaf}"


@dataclass(frozen=True, slots=True)
class CategoryResult:
    category: Category
    count: int
    #: 0 none, 1 mild (1-2), 2 moderate (3-4), 3 severe (5+).
    severity: int


@dataclass(frozen=True, slots=True)
class SignalReport:
    quality: Quality
    #: 0-100; starts at 50 and moves with the signals.
    quality_score: float
    #: User turns: one question and its answer make a turn.
    turn_count: int
    assistant_turns: int
    #: 1.0 up to the baseline number of turns, then decays.
    efficiency_score: float
    #: One entry per category of :data:`CATEGORIES`, in that order.
    categories: tuple[CategoryResult, ...]
    signals: tuple[Signal, ...]
    #: Worth a look: poor or severe quality, any disengagement, failure or loop, or
    #: repeated stagnation (Plano marks such spans with a flag).
    flagged: bool
    #: Messages analysed, and whether older messages or long texts were cut to the bounds.
    messages: int
    truncated: bool = False

    def category(self, key: str) -> CategoryResult:
        """The result for ``<layer>.<category>``."""
        for c in self.categories:
            if c.category.key == key:
                return c
        raise KeyError(key)

    def count(self, signal_type: str) -> int:
        """Instances of one full dotted type, or of a whole category when given
        ``<layer>.<category>``."""
        return sum(1 for s in self.signals if s.type == signal_type or s.category == signal_type)


def severity(count: int) -> int:
    """Plano's buckets: none, mild (1-2), moderate (3-4), severe (5+)."""
    if count <= 0:
        return 0
    if count <= 2:
        return 1
    if count <= 4:
        return 2
    return 3


def quality_band(score: float) -> Quality:
    if score >= 75.0:
        return "excellent"
    if score >= 60.0:
        return "good"
    if score >= 40.0:
        return "neutral"
    if score >= 25.0:
        return "poor"
    return "severe"
