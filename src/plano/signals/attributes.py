"""A report as span attributes and span events, under the keys Plano uses.

Top level, always: ``signals.quality``, ``signals.quality_score``, ``signals.turn_count``,
``signals.efficiency_score``. Per category that fired: ``signals.<layer>.<category>.count``
and ``.severity``. One event per instance: ``signal.<layer>.<category>.<leaf>`` with
``signal.type``, ``signal.message_index``, ``signal.confidence`` and ``signal.snippet`` (the
phrase or rule that matched, never the user's text).
"""

from __future__ import annotations

from plano.signals.report import SignalReport

__all__ = [
    "ATTR_EFFICIENCY",
    "ATTR_QUALITY",
    "ATTR_QUALITY_SCORE",
    "ATTR_TURN_COUNT",
    "EVENT_PREFIX",
    "FLAG_MARKER",
    "AttributeValue",
    "signals_attributes",
    "signals_events",
]

AttributeValue = str | int | float | bool

ATTR_QUALITY = "signals.quality"
ATTR_QUALITY_SCORE = "signals.quality_score"
ATTR_TURN_COUNT = "signals.turn_count"
ATTR_EFFICIENCY = "signals.efficiency_score"
EVENT_PREFIX = "signal."
#: What Plano appends to the name of a flagged span (``SignalReport.flagged``).
FLAG_MARKER = "\U0001f6a9"


def signals_attributes(report: SignalReport) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {
        ATTR_QUALITY: report.quality,
        ATTR_QUALITY_SCORE: round(report.quality_score, 2),
        ATTR_TURN_COUNT: report.turn_count,
        ATTR_EFFICIENCY: round(report.efficiency_score, 4),
    }
    for c in report.categories:
        if c.count:
            attrs[f"signals.{c.category.key}.count"] = c.count
            attrs[f"signals.{c.category.key}.severity"] = c.severity
    return attrs


def signals_events(report: SignalReport) -> list[tuple[str, dict[str, AttributeValue]]]:
    """``(name, attributes)`` per detected instance, in message order."""
    events: list[tuple[str, dict[str, AttributeValue]]] = []
    for s in report.signals:
        attrs: dict[str, AttributeValue] = {
            "signal.type": s.type,
            "signal.message_index": s.message_index,
            "signal.confidence": round(s.confidence, 3),
        }
        if s.evidence:
            attrs["signal.snippet"] = s.evidence
        events.append((EVENT_PREFIX + s.type, attrs))
    return events
