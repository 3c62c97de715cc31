"""``pii``: personal data found by the built-in detector (:mod:`plano.guard.pii`, optionally
with Presidio) and redacted, blocked or flagged, in prompts and answers.

* **redact**: each distinct value becomes ``[{kind} {n}]`` (stable within a request, and
  across the turns of a conversation: numbered by first appearance, and a conversation's
  history is a prefix of its next request). With ``restore: true`` the values come back in
  the answer, streams included (the machinery of :mod:`plano.filters.redact`). Tool-call
  arguments stay valid JSON.
* **block**: the request (or answer) is refused with a 400 in the client's API naming the
  kinds found, never the values.
* **flag**: everything passes; the kinds found go to ``ctx.labels`` (``pii`` for the
  prompt, ``pii_answer`` for the answer) for the audit trail and the ``x-plano-pii`` header.

Listed in ``input_filters`` the entry checks what ``apply_to`` names: the prompt at the
request's place in the chain, the answer as the provider wrote it (before output filters see
it; restoring comes last). Listed in ``output_filters`` it checks answers at its place there.
Every action records the kinds it found in ``ctx.labels``.

A request carrying content the canonical model cannot hold (``ChatRequest.opaque``: an
Anthropic document, a hosted tool, ...) is checked in the client's own body, which is kept
and redacted in place (see :func:`plano.filters.redact.redact_request`). Images, audio and
other binary content are not read by any action. Thinking blocks are left alone (a changed
one fails its signature).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, ParamSpec, TypeVar

from plano.config.filters import PiiOptions, PiiSpec, PresidioOptions
from plano.core.model import (
    ChatRequest,
    ChatResponse,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
)
from plano.filters.errors import FilterRejected
from plano.filters.redact import (
    AnswerText,
    Finder,
    RedactAnswer,
    Redactions,
    Redactor,
    RestoreAnswer,
    redact_request,
)
from plano.filters.redact_json import BODY_KEYS, walk_json, walk_json_text
from plano.guard import pii_presidio
from plano.guard.pii import BUILTIN_KINDS, KINDS, PiiDetector
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.pipeline.registry import Built, ConfiguredFilter, FilterRole

__all__ = ["PII_ANSWER_LABEL", "PII_HEADER", "PII_LABEL", "pii"]

#: ``ctx.labels`` key: the kinds found in the prompt, comma-separated (``email,card``).
PII_LABEL = "pii"
#: ``ctx.labels`` key: the kinds found in the answer.
PII_ANSWER_LABEL = "pii_answer"
#: The response header that carries ``ctx.labels[PII_LABEL]`` to the client.
PII_HEADER = "x-plano-pii"

_ORDER = {kind: i for i, kind in enumerate(KINDS)}
P = ParamSpec("P")
T = TypeVar("T")


def _ordered(kinds: Iterable[str]) -> list[str]:
    return sorted(set(kinds), key=lambda k: _ORDER.get(k, len(_ORDER)))


def _label(ctx: RequestContext, key: str, kinds: Iterable[str]) -> None:
    """Add ``kinds`` to the label ``key`` (kept in :data:`KINDS` order)."""
    have = set(ctx.labels[key].split(",")) if ctx.labels.get(key) else set()
    have.update(kinds)
    if have:
        ctx.labels[key] = ",".join(_ordered(have))
        if key == PII_LABEL:  # what the prompt held reaches the client before the answer
            ctx.response_headers[PII_HEADER] = ctx.labels[key]


def _refuse(spec: PiiSpec, where: str, kinds: Iterable[str]) -> FilterRejected:
    names = ", ".join(_ordered(kinds))
    return FilterRejected(spec.id, 400, f"{where} contains personal data ({names})")


def found_in_request(req: ChatRequest, finder: Finder) -> set[str]:
    """The kinds in a request: its client body when it carries opaque content (a superset
    of the canonical request), else message text and tool-call arguments."""
    kinds: set[str] = set()

    def scan(text: str) -> str:
        kinds.update(kind for _, _, kind in finder.spans(text))
        return text

    if req.opaque and req.raw is not None:
        for key in BODY_KEYS:
            if key in req.raw:
                walk_json(req.raw[key], scan, body=True)
        return kinds
    for m in req.messages:
        for p in m.content:
            if isinstance(p, TextPart):
                scan(p.text)
        for call in m.tool_calls:
            walk_json_text(call.arguments, scan, scan)
    return kinds


# ------------------------------------------------------------------------------ prompts


class _Prompts:
    """The request side of one entry: redact (keeping the values for restore), block or
    flag. Presidio's engine runs off the event loop."""

    def __init__(
        self, spec: PiiSpec, finder: Finder, redactor: Redactor, key: str, threaded: bool
    ) -> None:
        self.spec = spec
        self.finder = finder
        self.redactor = redactor
        self.key = key
        self.threaded = threaded

    async def check(self, ctx: RequestContext) -> None:
        req = ctx.request
        assert req is not None
        if self.spec.options.action == "redact":
            seen = Redactions()
            changed = await self._call(redact_request, req, self.redactor, seen)
            if changed:
                ctx.state[self.key] = seen
                _label(ctx, PII_LABEL, (name for name, _ in seen.placeholders))
            return
        found = await self._call(found_in_request, req, self.finder)
        _label(ctx, PII_LABEL, found)
        if found and self.spec.options.action == "block":
            raise _refuse(self.spec, "the request", found)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.threaded:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)


class _WithPrompts(Filter):
    """Mixed into an answer filter listed in input_filters: it checks the prompt too."""

    prompts: _Prompts
    #: It says itself when it changed the request (``redact_request``).
    rewrites_request: ClassVar[bool] = False

    async def on_request(self, ctx: RequestContext) -> None:
        await self.prompts.check(ctx)


class _PromptsOnly(ConfiguredFilter):
    rewrites_request: ClassVar[bool] = False

    def __init__(self, spec: PiiSpec, prompts: _Prompts) -> None:
        super().__init__(spec, "input")
        self.prompts = prompts

    async def on_request(self, ctx: RequestContext) -> None:
        await self.prompts.check(ctx)


# ------------------------------------------------------------------------------ answers


class _RedactAnswers(RedactAnswer):
    """Redacts answers; records the kinds it replaced."""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        await super().on_response(ctx, resp)
        self._record(ctx)

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        out = await super().on_stream_event(ctx, ev)
        self._record(ctx)
        return out

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        out = await super().on_stream_end(ctx)
        self._record(ctx)
        return out

    def _record(self, ctx: RequestContext) -> None:
        seen = ctx.state.get(self.seen_key)
        if isinstance(seen, Redactions) and seen.placeholders:
            _label(ctx, PII_ANSWER_LABEL, (name for name, _ in seen.placeholders))


class _Found(Exception):
    """Raised inside :meth:`_BlockAnswers.split` (which has no context) with the kinds."""

    def __init__(self, kinds: set[str]) -> None:
        super().__init__()
        self.kinds = kinds


class _BlockAnswers(AnswerText):
    """Refuses an answer with PII; in a stream, text is held back ``max_match`` characters
    (tool-call arguments until the call is whole) so no value reaches the client before
    the stream is ended with the API's error event."""

    def __init__(self, spec: PiiSpec, role: FilterRole, finder: Finder) -> None:
        super().__init__(spec, role, f"filter:{spec.id}:{role}:answer")
        self.pii = spec
        self.finder = finder
        self.max_match = spec.options.max_match

    def seen(self, ctx: RequestContext) -> Redactions:
        return _NOTHING

    def split(self, seen: Redactions, text: str, json: bool, final: bool) -> tuple[str, str]:
        if json and not final:
            return "", text
        cut = len(text) if final else max(len(text) - self.max_match, 0)
        kinds = {kind for start, _, kind in self.finder.spans(text) if start < cut}
        if kinds:
            raise _Found(kinds)
        return text[:cut], text[cut:]

    def _refused(self, ctx: RequestContext, found: _Found) -> FilterRejected:
        _label(ctx, PII_ANSWER_LABEL, found.kinds)
        return _refuse(self.pii, "the answer", found.kinds)

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        try:
            await super().on_response(ctx, resp)
        except _Found as found:
            raise self._refused(ctx, found) from None

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        try:
            return await super().on_stream_event(ctx, ev)
        except _Found as found:
            raise self._refused(ctx, found) from None

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        try:
            return await super().on_stream_end(ctx)
        except _Found as found:
            raise self._refused(ctx, found) from None


#: The state :class:`_BlockAnswers` passes around (it keeps none).
_NOTHING = Redactions()


class _FlagAnswers(ConfiguredFilter):
    """Records the kinds in answers; every event passes at once (a window of the last
    ``max_match`` characters of each text or call is kept to find values cut in two)."""

    def __init__(self, spec: PiiSpec, role: FilterRole, finder: Finder) -> None:
        super().__init__(spec, role)
        self.finder = finder
        self.max_match = spec.options.max_match
        self.tail_key = f"filter:{spec.id}:{role}:tail"

    def _kinds(self, text: str) -> set[str]:
        return {kind for _, _, kind in self.finder.spans(text)}

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        kinds: set[str] = set()
        for choice in resp.choices:
            for p in choice.message.content:
                if isinstance(p, TextPart):
                    kinds |= self._kinds(p.text)
            for call in choice.message.tool_calls:
                kinds |= self._kinds(call.arguments)
        _label(ctx, PII_ANSWER_LABEL, kinds)

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        if isinstance(ev, TextDelta):
            key, text = f"t{ev.index}", ev.text
        elif isinstance(ev, ToolCallDelta):
            key, text = f"c{ev.index}.{ev.tool_index}", ev.arguments
        else:
            return (ev,)
        tails: dict[str, str] = ctx.state.setdefault(self.tail_key, {})
        window = tails.get(key, "") + text
        tails[key] = window[-self.max_match :]
        kinds = self._kinds(window)
        if kinds:
            _label(ctx, PII_ANSWER_LABEL, kinds)
        return (ev,)


class _RedactBoth(_WithPrompts, _RedactAnswers):
    pass


class _BlockBoth(_WithPrompts, _BlockAnswers):
    pass


class _FlagBoth(_WithPrompts, _FlagAnswers):
    pass


# ------------------------------------------------------------------------------ factory


def _finders(options: PiiOptions) -> tuple[Finder, Finder, bool]:
    """The prompt's finder, the answer's (always the built-in one: Presidio is too slow
    for every stream event) and whether the prompt's must run off the event loop."""
    kinds = options.kinds or (KINDS if options.engine == "presidio" else BUILTIN_KINDS)
    builtin = PiiDetector([k for k in kinds if k in BUILTIN_KINDS])
    if options.engine == "builtin":
        return builtin, builtin, False
    settings = options.presidio or PresidioOptions()
    analyzer = pii_presidio.load_analyzer(settings.model, settings.language)
    finder = pii_presidio.PresidioFinder(
        analyzer,
        kinds,
        builtin=builtin,
        language=settings.language,
        min_score=settings.min_score,
    )
    return finder, builtin, True


def pii(spec: PiiSpec, role: FilterRole) -> Built:
    """The factory of ``type: pii`` entries."""
    options = spec.options
    prompt_finder, answer_finder, threaded = _finders(options)
    if role == "output":
        return Built(_answers(spec, role, answer_finder, None, None))
    key = f"filter:{spec.id}:input"
    redactor = Redactor(prompt_finder, options.placeholder, options.max_match)
    prompts = _Prompts(spec, prompt_finder, redactor, key, threaded)
    restores = options.action == "redact" and options.restore
    unwind = RestoreAnswer(spec, role, key) if restores else None
    if "response" not in options.apply_to:
        return Built(_PromptsOnly(spec, prompts), unwind)
    with_prompts = prompts if "request" in options.apply_to else None
    return Built(_answers(spec, role, answer_finder, key, with_prompts), unwind)


def _answers(
    spec: PiiSpec,
    role: FilterRole,
    finder: Finder,
    seed_key: str | None,
    prompts: _Prompts | None,
) -> Filter:
    """The answer side, and the prompt's too when ``prompts`` is given."""
    options = spec.options
    out: Filter
    if options.action == "redact":
        redactor = Redactor(finder, options.placeholder, options.max_match)
        out = (_RedactBoth if prompts else _RedactAnswers)(spec, redactor, role, seed_key)
    elif options.action == "block":
        out = (_BlockBoth if prompts else _BlockAnswers)(spec, role, finder)
    else:
        out = (_FlagBoth if prompts else _FlagAnswers)(spec, role, finder)
    if isinstance(out, _WithPrompts) and prompts is not None:
        out.prompts = prompts
    return out
