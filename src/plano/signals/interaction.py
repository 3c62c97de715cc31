"""Interaction signals: how the user and the agent are getting on, from the messages' text.

misalignment (corrections, rephrasing, clarification requests), stagnation (a conversation
dragging past its baseline, near-duplicate messages), disengagement (asking for a human,
quitting, complaints, shouting), satisfaction (thanks, confirmation, success).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from plano.signals.phrases import CONFIRMING_STARTS, FUZZY, POSITIVE_STARTS, USER_PHRASES
from plano.signals.report import Signal
from plano.signals.text import GRAM_SPAN, STOPWORDS, Normalized, PhraseSet, jaccard

__all__ = [
    "Hit",
    "Said",
    "Settings",
    "dragging",
    "placed",
    "repetition",
    "restatements",
    "user_hits",
]

PHRASES: Mapping[str, PhraseSet] = MappingProxyType(
    {key: PhraseSet(phrases, fuzzy=FUZZY.get(key)) for key, phrases in USER_PHRASES.items()}
)
_REPEATED_MARKS = re.compile(r"\?{2,}|!{2,}|[?!]{3,}")


@dataclass(frozen=True, slots=True)
class Settings:
    #: User turns a conversation may take before it counts as dragging.
    baseline_turns: int = 5
    #: Efficiency below this is dragging.
    dragging_below: float = 0.5
    #: How fast efficiency decays per turn past the baseline (Plano's code uses 0.25).
    decay: float = 0.25
    #: Trigram Jaccard from which a message repeats one of the same role exactly / nearly.
    exact_repeat: float = 0.95
    near_repeat: float = 0.85
    #: Earlier messages of the same role each message is compared with.
    lookback: int = 2


#: One detection on one message, before it is placed: (category, leaf, confidence,
#: evidence). What a message alone shows is kept per text (``analyzer.Memo``): a
#: conversation's history is sent again with every turn.
Hit: TypeAlias = tuple[str, str, float, str]


@dataclass(frozen=True, slots=True)
class Said:
    """One user or assistant message, normalised, with what it shows on its own."""

    role: str
    index: int
    text: Normalized
    hits: tuple[Hit, ...] = ()


def _category(key: str) -> tuple[str, str]:
    category, leaf = key.split(".")
    return f"interaction.{category}", leaf


def _first(msg: Normalized, keys: tuple[str, ...]) -> Hit | None:
    for key in keys:
        phrase = PHRASES[key].find(msg)
        if phrase is not None:
            return (*_category(key), 1.0, phrase)
    return None


_MISALIGNMENT = ("misalignment.correction", "misalignment.rephrase", "misalignment.clarification")
_SATISFACTION = ("satisfaction.gratitude", "satisfaction.confirmation", "satisfaction.success")
_GIVING_UP = ("disengagement.escalation", "disengagement.quit")


def user_hits(msg: Normalized) -> tuple[Hit, ...]:
    """What one user message shows alone: at most one misalignment phrase; shouting,
    repeated ?!, a request for a human, quitting, and profanity or else a complaint (none of
    the two after an escalation); at most one satisfaction phrase."""
    hits: list[Hit] = []
    found = _first(msg, _MISALIGNMENT)
    if found is not None:
        hits.append(found)
    hits += _tone(msg)
    escalated = False
    for key in _GIVING_UP:
        phrase = PHRASES[key].find(msg)
        if phrase is not None:
            escalated |= key == "disengagement.escalation"
            hits.append((*_category(key), 1.0, phrase))
    phrase = PHRASES["disengagement.profanity"].find(msg)
    if phrase is None and not escalated:
        phrase = PHRASES["disengagement.complaint"].find(msg)
    if phrase is not None:
        hits.append(("interaction.disengagement", "negative_stance", 1.0, phrase))
    found = _first(msg, _SATISFACTION)
    if found is not None:
        hits.append(found)
    return tuple(hits)


def _tone(msg: Normalized) -> list[Hit]:
    hits: list[Hit] = []
    raw = msg.raw
    upper = sum(map(str.isupper, raw))  # C loops: no per-character Python
    if upper >= 10 and upper >= 0.8 * (upper + sum(map(str.islower, raw))):
        hits.append(("interaction.disengagement", "negative_stance", 0.8, "all caps"))
    if not msg.startswith(POSITIVE_STARTS) and _REPEATED_MARKS.search(raw):
        hits.append(("interaction.disengagement", "negative_stance", 0.6, "?!!"))
    return hits


def placed(said: list[Said]) -> Iterator[Signal]:
    """Every message's own hits, at its index."""
    for s in said:
        for category, leaf, confidence, evidence in s.hits:
            yield Signal(category, leaf, s.index, confidence, evidence)


def restatements(said: list[Said]) -> Iterator[Signal]:
    """A user message with no misalignment phrase that restates the previous user message
    (most of its content words again, little new) is a rephrase."""
    previous: Said | None = None
    for s in said:
        if s.role != "user":
            continue
        phrased = any(h[0] == "interaction.misalignment" for h in s.hits)
        if phrased or previous is None or s.index - previous.index > 3:
            previous = s
            continue
        if _restates(s, previous):
            yield Signal("interaction.misalignment", "rephrase", s.index, 0.8, "restated")
        previous = s


def _restates(now: Said, before: Said) -> bool:
    if len(now.text.words) < 3 or len(before.text.words) < 3:
        return False
    if now.text.startswith(CONFIRMING_STARTS):
        return False
    a = {w for w in now.text.words if w not in STOPWORDS}
    b = {w for w in before.text.words if w not in STOPWORDS}
    if len(a) < 4 or len(b) < 4:
        return False
    if len(a - b) / len(a) > 0.5:
        return False
    return len(a & b) / min(len(a), len(b)) >= 0.75


def dragging(user_turns: int, settings: Settings) -> float:
    """The efficiency score: 1.0 up to the baseline, then ``1 / (1 + decay * excess)``."""
    excess = user_turns - settings.baseline_turns
    return 1.0 if excess <= 0 else 1.0 / (1.0 + settings.decay * excess)


def repetition(
    said: list[Said],
    settings: Settings,
    similar: Callable[[Normalized, Normalized], float] = lambda a, b: jaccard(a.grams, b.grams),
) -> Iterator[Signal]:
    """A message (5 words or more) nearly the same as one of the last ``lookback`` messages
    of its role: the agent answering the same thing again, or the user asking again."""
    earlier: dict[str, list[Said]] = {"user": [], "assistant": []}
    for s in said:
        mine = earlier[s.role]
        if s.role == "user" and s.text.startswith(POSITIVE_STARTS):
            mine.append(s)  # "yes, please", "thanks!" repeat naturally
            continue
        if s.text.size >= 5:
            size = min(len(s.text.lower), 2 * GRAM_SPAN)
            for prev in reversed(mine[-settings.lookback :]):  # the closest first
                if prev.text.size < 5:
                    continue
                other = min(len(prev.text.lower), 2 * GRAM_SPAN)
                if 2 * min(size, other) < max(size, other):
                    continue  # twice as long: no near-duplicate, no trigrams needed
                score = similar(s.text, prev.text)
                if score >= settings.near_repeat:
                    kind = "exact" if score >= settings.exact_repeat else "near-duplicate"
                    evidence = f"{kind} of message {prev.index}"
                    yield Signal("interaction.stagnation", "repetition", s.index, score, evidence)
                    break
        mine.append(s)
