"""``regex_redact``: text matching regular expressions replaced by placeholders; and the
reversible redaction machinery it shares with the ``pii`` filter (:mod:`plano.filters.pii`).

A :class:`Redactor` replaces what a :class:`Finder` finds (``regex_redact``'s patterns, the
PII detector) with numbered placeholders; :func:`redact_request` applies it to a request, the
answer filters below restore values or redact answers, streams included.

* as an **input filter** it redacts the request (message text and tool-call arguments):
  each distinct value becomes ``[{name} {n}]`` (stable within the request: the same value,
  the same placeholder). With ``restore: true`` it puts the values back in the answer (text
  and tool-call arguments, streams included: text that may be the start of a placeholder is
  held until the next event shows whether it is one);
* as an **output filter** it redacts answers; on a stream, the last ``max_match`` characters
  are held back so a value cut between two events is still found.

Patterns are tried at each position in the order given; the earliest match wins, then the
longest. Tool-call arguments are redacted as JSON (strings and long integers inside them),
so they stay valid JSON. A request with content the canonical model cannot carry
(``ChatRequest.opaque``) is redacted in the client's own body too, which is kept (the
provider of the client's API gets it, redacted): re-encoding it would lose that content.
Pure: no IO, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import orjson

from plano.config.filters import FilterSpecBase, RegexRedactOptions, RegexRedactSpec
from plano.core.model import (
    ChatRequest,
    ChatResponse,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
)
from plano.filters.redact_json import BODY_KEYS, walk_json, walk_json_text
from plano.pipeline.context import RequestContext
from plano.pipeline.registry import Built, ConfiguredFilter, FilterRole

__all__ = [
    "AnswerText",
    "Finder",
    "PatternFinder",
    "RedactAnswer",
    "RedactRequest",
    "Redactions",
    "Redactor",
    "RestoreAnswer",
    "redact_request",
    "regex_redact",
    "restore",
]


@dataclass(slots=True)
class Redactions:
    """One request's values and their placeholders."""

    #: placeholder -> the value it stands for
    originals: dict[str, str] = field(default_factory=dict)
    #: (pattern name, value) -> its placeholder
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    finder: re.Pattern[str] | None = None

    def add(self, name: str, value: str, placeholder: str) -> None:
        self.placeholders[(name, value)] = placeholder
        self.originals[placeholder] = value
        self.finder = None

    def restorer(self) -> re.Pattern[str]:
        """One regex finding every placeholder (longest first, so ``[x 1]`` never wins over
        ``[x 12]``)."""
        if self.finder is None:
            ordered = sorted(self.originals, key=len, reverse=True)
            self.finder = re.compile("|".join(map(re.escape, ordered)))
        return self.finder


class Finder(Protocol):
    """What a :class:`Redactor` replaces: ``(start, end, name)`` spans, earliest first, none
    overlapping."""

    def spans(self, text: str) -> list[tuple[int, int, str]]: ...


class PatternFinder:
    """``regex_redact``'s patterns: tried at each position in order; the earliest match wins,
    then the longest."""

    def __init__(self, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> None:
        self.patterns = list(patterns)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        found = [
            (m.start(), -m.end(), name)
            for name, rx in self.patterns
            for m in rx.finditer(text)
            if m.end() > m.start()
        ]
        found.sort()
        out: list[tuple[int, int, str]] = []
        end = 0
        for start, neg_end, name in found:
            if start >= end:
                out.append((start, -neg_end, name))
                end = -neg_end
        return out


class Redactor:
    """What to find and the placeholder format: ``{name}`` (or ``{kind}``) is the finding's
    name, ``{n}`` numbers the distinct values of that name within one request (across names
    when the format shows none). ``max_match`` is the longest value, held back in streams."""

    def __init__(self, finder: Finder, placeholder: str, max_match: int) -> None:
        self.finder = finder
        self.placeholder = placeholder
        self._per_name = "{name}" in placeholder or "{kind}" in placeholder
        self.max_match = max_match

    @classmethod
    def from_options(cls, options: RegexRedactOptions) -> Redactor:
        finder = PatternFinder([(p.name, re.compile(p.regex)) for p in options.patterns])
        return cls(finder, options.placeholder, options.max_match)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        return self.finder.spans(text)

    def redact(
        self, text: str, seen: Redactions, upto: int | None = None, *, json: bool = False
    ) -> tuple[str, int]:
        """``text`` redacted up to ``upto`` (all of it by default, but never cutting a match
        in two: the cut moves to the start of a match it falls in). Returns the redacted
        text before the cut and where the cut is."""
        cut = len(text) if upto is None else max(upto, 0)
        pieces: list[str] = []
        at = 0
        for start, end, name in self.spans(text):
            if start >= cut:
                break
            if end > cut:  # a match the cut would split: keep all of it for later
                cut = start
                break
            value = text[start:end]
            if value in seen.originals:  # already a placeholder of ours
                continue
            pieces += (text[at:start], self._placeholder(name, _unescaped(value, json), seen))
            at = end
        pieces.append(text[at:cut])
        return "".join(pieces), cut

    def _placeholder(self, name: str, value: str, seen: Redactions) -> str:
        key = (name, value)
        known = seen.placeholders.get(key)
        if known is not None:
            return known
        counter = name if self._per_name else ""
        seen.counts[counter] += 1
        made = self.placeholder.format(name=name, kind=name, n=seen.counts[counter])
        seen.add(name, value, made)
        return made


def _unescaped(value: str, json: bool) -> str:
    """A value found inside JSON text (tool-call arguments) as it reads unescaped."""
    if not json or "\\" not in value:
        return value
    try:
        out = orjson.loads(f'"{value}"')
    except orjson.JSONDecodeError:
        return value
    return out if isinstance(out, str) else value


def restore(text: str, seen: Redactions, *, json: bool = False) -> str:
    """``text`` with every placeholder of ``seen`` replaced by its value (JSON-escaped inside
    tool-call arguments)."""
    if not seen.originals or not text:
        return text
    originals = seen.originals
    if json:
        return seen.restorer().sub(lambda m: orjson.dumps(originals[m[0]]).decode()[1:-1], text)
    return seen.restorer().sub(lambda m: originals[m[0]], text)


def _placeholder_start(text: str, placeholders: Sequence[str], longest: int) -> int:
    """Where the tail of ``text`` that may still become a placeholder starts."""
    for i in range(max(0, len(text) - longest + 1), len(text)):
        tail = text[i:]
        if any(p.startswith(tail) for p in placeholders):
            return i
    return len(text)


# ------------------------------------------------------------------------------ requests


def redact_request(req: ChatRequest, redactor: Redactor, seen: Redactions) -> bool:
    """Redact ``req`` in place: message text (system, user, assistant, tool results) and
    tool-call arguments; and, when it carries content the canonical model cannot, the
    client's own body as well, which is kept. Says the request changed (so it is encoded
    anew, or its kept body re-serialized). True when something was redacted."""
    changed = False

    def text(value: str) -> str:
        return redactor.redact(value, seen)[0]

    def broken_json(value: str) -> str:
        return redactor.redact(value, seen, json=True)[0]

    for m in req.messages:
        for p in m.content:
            if isinstance(p, TextPart):
                new = text(p.text)
                if new != p.text:
                    p.text, changed = new, True
        for call in m.tool_calls:
            args = walk_json_text(call.arguments, text, broken_json)
            if args != call.arguments:
                call.arguments, changed = args, True
    if req.opaque and req.raw is not None:
        raw = req.raw
        new_raw = {
            k: walk_json(v, text, body=True) if k in BODY_KEYS else v for k, v in raw.items()
        }
        if changed or any(new_raw[k] is not raw[k] for k in raw):
            req.raw, req.raw_body, req.size = new_raw, None, None
            return True
        return False
    if changed:
        req.changed()
    return changed


# -------------------------------------------------------------------- answers and streams

#: What is held in a stream: (kind, choice index, tool index) and the text.
_Key = tuple[str, int, int]


@dataclass(slots=True)
class _Held:
    key: _Key | None = None
    text: str = ""


class AnswerText(ConfiguredFilter):
    """Rewrites an answer's text and tool-call arguments; in a stream, holds back the tail
    that the next event may complete (and releases it before any other kind of event).
    Subclasses say what to do in :meth:`split`; ``seen`` is the request's state in
    ``ctx.state[seen_key]`` (no state: the answer passes untouched)."""

    def __init__(self, spec: FilterSpecBase, role: FilterRole, seen_key: str) -> None:
        super().__init__(spec, role)
        self.seen_key = seen_key
        self.hold_key = seen_key + ":hold"

    def seen(self, ctx: RequestContext) -> Redactions | None:
        got = ctx.state.get(self.seen_key)
        return got if isinstance(got, Redactions) else None

    def split(self, seen: Redactions, text: str, json: bool, final: bool) -> tuple[str, str]:
        """What of ``text`` can go now (rewritten) and what must wait; ``json``: tool-call
        arguments; ``final``: nothing more will follow."""
        raise NotImplementedError

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        seen = self.seen(ctx)
        if seen is None:
            return
        changed = False
        for choice in resp.choices:
            for p in choice.message.content:
                if isinstance(p, TextPart):
                    text, _ = self.split(seen, p.text, False, True)
                    if text != p.text:
                        p.text, changed = text, True
            for call in choice.message.tool_calls:
                args, _ = self.split(seen, call.arguments, True, True)
                if args != call.arguments:
                    call.arguments, changed = args, True
        if changed:
            resp.changed()

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        seen = self.seen(ctx)
        if seen is None:
            return (ev,)
        held = ctx.state.get(self.hold_key)
        if not isinstance(held, _Held):
            held = ctx.state[self.hold_key] = _Held()
        if isinstance(ev, TextDelta):
            return self._feed(seen, held, ("text", ev.index, 0), ev.text)
        if isinstance(ev, ToolCallDelta):
            out: list[StreamEvent] = []
            if ev.id is not None or ev.name is not None:  # a new call: its head passes now
                out += self._release(seen, held)
                out.append(ToolCallDelta(ev.tool_index, ev.id, ev.name, "", ev.index))
            return out + self._feed(seen, held, ("tool", ev.index, ev.tool_index), ev.arguments)
        return [*self._release(seen, held), ev]

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        seen, held = self.seen(ctx), ctx.state.get(self.hold_key)
        if seen is None or not isinstance(held, _Held):
            return ()
        return self._release(seen, held)

    def _feed(self, seen: Redactions, held: _Held, key: _Key, text: str) -> list[StreamEvent]:
        out = self._release(seen, held) if held.key != key else []
        emit, held.text = self.split(seen, held.text + text, key[0] == "tool", False)
        held.key = key
        return out + _event(key, emit) if emit else out

    def _release(self, seen: Redactions, held: _Held) -> list[StreamEvent]:
        key, text = held.key, held.text
        held.key, held.text = None, ""
        if key is None or not text:
            return []
        emit, _ = self.split(seen, text, key[0] == "tool", True)
        return _event(key, emit)


def _event(key: _Key, text: str) -> list[StreamEvent]:
    kind, index, tool_index = key
    if kind == "text":
        return [TextDelta(text, index)]
    return [ToolCallDelta(tool_index, arguments=text, index=index)]


class RedactRequest(ConfiguredFilter):
    """Input role: redacts the request; records the values for ``restore`` (and for the
    numbering of an answer's own placeholders) in ``ctx.state[key]``."""

    #: :func:`redact_request` says when it changed the request.
    rewrites_request: ClassVar[bool] = False

    def __init__(self, spec: FilterSpecBase, redactor: Redactor, keep: bool) -> None:
        super().__init__(spec, "input")
        self.redactor = redactor
        self.keep = keep

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        assert req is not None
        seen = Redactions()
        if redact_request(req, self.redactor, seen) and self.keep:
            ctx.state[self.key] = seen


class RestoreAnswer(AnswerText):
    """Input role, ``restore: true``: the request's values back into the answer."""

    def split(self, seen: Redactions, text: str, json: bool, final: bool) -> tuple[str, str]:
        text = restore(text, seen, json=json)
        if final:
            return text, ""
        longest = max(map(len, seen.originals))
        cut = _placeholder_start(text, list(seen.originals), longest)
        return text[:cut], text[cut:]


class RedactAnswer(AnswerText):
    """Redacts answers with a fresh set of placeholders per request, numbered after those
    of the request's own redaction (``seed_key``) so that restoring the request's values
    never puts one back in place of a value the answer had. Streamed tool-call arguments
    are held until the call is complete, then redacted as JSON."""

    def __init__(
        self,
        spec: FilterSpecBase,
        redactor: Redactor,
        role: FilterRole = "output",
        seed_key: str | None = None,
    ) -> None:
        super().__init__(spec, role, f"filter:{spec.id}:{role}:answer")
        self.redactor = redactor
        self.seed_key = seed_key

    def seen(self, ctx: RequestContext) -> Redactions:
        got = ctx.state.get(self.seen_key)
        if not isinstance(got, Redactions):
            got = ctx.state[self.seen_key] = Redactions()
            seed = ctx.state.get(self.seed_key) if self.seed_key else None
            if isinstance(seed, Redactions):
                got.counts.update(seed.counts)
        return got

    def split(self, seen: Redactions, text: str, json: bool, final: bool) -> tuple[str, str]:
        if json:
            if not final:
                return "", text
            return walk_json_text(
                text,
                lambda v: self.redactor.redact(v, seen)[0],
                lambda v: self.redactor.redact(v, seen, json=True)[0],
            ), ""
        upto = None if final else len(text) - self.redactor.max_match
        emit, cut = self.redactor.redact(text, seen, upto)
        return emit, text[cut:]


def regex_redact(spec: RegexRedactSpec, role: FilterRole) -> Built:
    """The factory of ``type: regex_redact`` entries."""
    redactor = Redactor.from_options(spec.options)
    if role == "output":
        return Built(RedactAnswer(spec, redactor))
    request = RedactRequest(spec, redactor, keep=spec.options.restore)
    unwind = RestoreAnswer(spec, "input", request.key) if spec.options.restore else None
    return Built(request, unwind)
