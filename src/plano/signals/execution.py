"""Execution and environment signals: what the agent's tool calls and their results show.

execution.failure: a tool result saying the agent used the tool wrongly (bad arguments, a
tool that does not exist, missing credentials, wrong order, a bad query), or a call to a tool
the request did not declare; execution.loops: the same tool again and again (same arguments:
retry; changing arguments: parameter drift) or tools taking turns (A B A B A B: oscillation);
environment.exhaustion: a tool result saying the world failed (rate limit, 5xx, timeout,
network, malformed response, context overflow).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson

from plano.signals.interaction import Hit
from plano.signals.phrases import ENVIRONMENT_ERRORS, TOOL_ERRORS
from plano.signals.report import Signal
from plano.signals.transcript import Transcript

__all__ = ["Call", "calls", "loops", "placed", "tool_hits"]

#: Runs of this many calls make a retry or a drift; cycles of this many an oscillation.
RUN = 3
CYCLES = 3
#: Longest repeating group of tools an oscillation is looked for with.
MAX_CYCLE = 5


@dataclass(frozen=True, slots=True)
class Call:
    index: int
    name: str
    #: The arguments in a canonical form (JSON objects with sorted keys).
    args: str


def calls(t: Transcript) -> list[Call]:
    return [
        Call(turn.index, turn.name, _canonical(turn.text))
        for turn in t.turns
        if turn.role == "tool_call"
    ]


def _canonical(args: str) -> str:
    text = args.strip()
    if text.startswith("{"):
        try:
            return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONDecodeError:
            pass  # cut to the bound, or not JSON: compare as written
    return text


def tool_hits(text: str) -> tuple[Hit, ...]:
    """What one tool result shows alone: at most one failure leaf and one exhaustion leaf
    (the first of each table that matches)."""
    lower = text.lower()
    hits: list[Hit] = []
    for category, table in (
        ("execution.failure", TOOL_ERRORS),
        ("environment.exhaustion", ENVIRONMENT_ERRORS),
    ):
        for leaf, rule in table.items():
            m = rule.search(lower)
            if m is not None:
                hits.append((category, leaf, 0.9, m.group(0)[:60]))
                break
    return tuple(hits)


def placed(t: Transcript, hits: Sequence[tuple[Hit, ...]]) -> Iterator[Signal]:
    """Tool results' own hits (``hits[i]`` for the i-th tool result), and calls to tools the
    request did not declare (then a result saying so is not counted again)."""
    results = iter(hits)
    last_call = ""
    undeclared: set[int] = set()
    for turn in t.turns:
        if turn.role == "tool_call":
            last_call = turn.name
            if t.tools is not None and turn.name not in t.tools:
                undeclared.add(turn.index)
                yield Signal(
                    "execution.failure", "tool_not_found", turn.index, 1.0, "undeclared tool"
                )
            continue
        if turn.role != "tool":
            continue
        for category, leaf, confidence, evidence in next(results):
            if category == "execution.failure":
                if leaf == "tool_not_found" and turn.index - 1 in undeclared:
                    continue  # already counted from the call itself
                evidence = f"{last_call or 'tool'}: {evidence}"
            yield Signal(category, leaf, turn.index, confidence, evidence)


def loops(t: Transcript) -> Iterator[Signal]:
    seq = calls(t)
    if len(seq) < RUN:
        return
    retries = list(_runs(seq, same_args=True))
    for start, end in retries:
        n = end - start + 1
        yield Signal(
            "execution.loops",
            "retry",
            seq[start].index,
            0.95,
            f"{seq[start].name} x{n}, same arguments",
        )
    for start, end in _runs(seq, same_args=False):
        if any(start <= r_end and r_start <= end for r_start, r_end in retries):
            continue
        n = end - start + 1
        yield Signal(
            "execution.loops",
            "parameter_drift",
            seq[start].index,
            0.85,
            f"{seq[start].name} x{n}, changing arguments",
        )
    for start, names, cycles in _oscillations(seq):
        yield Signal(
            "execution.loops",
            "oscillation",
            seq[start].index,
            0.85,
            f"{' > '.join(names)} x{cycles}",
        )


def _runs(seq: Sequence[Call], *, same_args: bool) -> Iterator[tuple[int, int]]:
    """Runs of at least :data:`RUN` consecutive calls of one tool: with the same arguments
    (``same_args``), or with at least two different ones."""
    i = 0
    while i < len(seq):
        first = seq[i]
        j = i + 1
        while (
            j < len(seq)
            and seq[j].name == first.name
            and (not same_args or seq[j].args == first.args)
        ):
            j += 1
        varied = same_args or len({c.args for c in seq[i:j]}) >= 2
        if j - i >= RUN and varied:
            yield i, j - 1
            i = j
        else:
            i += 1


def _oscillations(seq: Sequence[Call]) -> Iterator[tuple[int, tuple[str, ...], int]]:
    """Groups of 2 to :data:`MAX_CYCLE` calls (two tools at least) repeated :data:`CYCLES`
    times or more in a row; found groups do not overlap."""
    names = [c.name for c in seq]
    n = len(names)
    i = 0
    while i + 2 * CYCLES <= n:
        found = False
        for size in range(2, min(MAX_CYCLE, n - i) + 1):
            group = names[i : i + size]
            if len(set(group)) < 2:
                continue
            cycles, pos = 1, i + size
            while pos + size <= n and names[pos : pos + size] == group:
                cycles += 1
                pos += size
            if cycles >= CYCLES:
                yield i, tuple(group), cycles
                i, found = pos, True
                break
        if not found:
            i += 1
