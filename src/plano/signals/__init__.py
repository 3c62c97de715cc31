"""Agentic signals: model-free indicators of how an agent conversation is going.

Values in, values out: :func:`transcript` takes a bounded copy of a canonical request and its
answer, :func:`analyze` turns it into a frozen :class:`SignalReport` (categories with counts
and severities, a quality band and score, turn count, efficiency), and
:func:`signals_attributes` / :func:`signals_events` give the span attributes and events Plano
names. No IO, no clock, no model; see ``docs/signals.md``.
"""

from plano.signals.analyzer import DETECTORS, Memo, analyze
from plano.signals.attributes import signals_attributes, signals_events
from plano.signals.interaction import Settings
from plano.signals.report import (
    CATEGORIES,
    LEAVES,
    QUALITIES,
    Category,
    CategoryResult,
    Quality,
    Signal,
    SignalReport,
)
from plano.signals.transcript import Limits, Transcript, Turn, transcript

__all__ = [
    "CATEGORIES",
    "DETECTORS",
    "LEAVES",
    "QUALITIES",
    "Category",
    "CategoryResult",
    "Limits",
    "Memo",
    "Quality",
    "Settings",
    "Signal",
    "SignalReport",
    "Transcript",
    "Turn",
    "analyze",
    "signals_attributes",
    "signals_events",
    "transcript",
]
