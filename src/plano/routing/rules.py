"""Declarative routing rules, compiled once, evaluated in order against one request's facts.

A rule is a list of checks (all must hold) and a target (pool, alias or model). Checks are
ordered cheapest first; the input-token estimate, the only costly fact, is computed once and
only when a rule asks for it.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from plano.config.routing import Range, RoutingRule
from plano.core.model import ChatRequest, text_size

__all__ = [
    "COUNT_CAP_BYTES",
    "SAMPLE_FROM_BYTES",
    "NamePattern",
    "RequestFacts",
    "Rule",
    "TokensNeeded",
    "compile_rule",
    "first_match",
]

_JSON_FORMATS = frozenset({"json_object", "json_schema"})


class NamePattern:
    """Exact names plus ``*``/``?`` globs; ``"*"`` alone matches anything, even empty."""

    __slots__ = ("_any", "_exact", "_globs")

    def __init__(self, patterns: Iterable[str]) -> None:
        pats = list(patterns)
        self._any = "*" in pats
        self._exact = frozenset(p for p in pats if not _is_glob(p))
        self._globs = [re.compile(fnmatch.translate(p)) for p in pats if _is_glob(p)]

    def matches(self, value: str | None) -> bool:
        if self._any:
            return True
        if value is None:
            return False
        return value in self._exact or any(g.match(value) for g in self._globs)


def _is_glob(p: str) -> bool:
    return "*" in p or "?" in p


class TokensNeeded(Exception):
    """A decision depends on the exact input-token count, which cheap bounds cannot settle.
    The router catches it, counts off the event loop (:meth:`RequestFacts.count_exact`) and
    decides again; nothing on the loop ever runs the tokenizer over a whole prompt."""


#: Prompts whose text is larger than this are never tokenized: the estimate decides. Counting
#: 2 MiB costs ~0.5 s of CPU, even in a thread; past it the precision is not worth it.
COUNT_CAP_BYTES = 2 * 1024 * 1024
#: Past this much text, a tokenized sample is tried before an exact count (a 128k-token
#: window is undecided by size alone for prompts of ~250-1,000 KB: counting one whole
#: would cost 15-50 ms of CPU per request).
SAMPLE_FROM_BYTES = 64 * 1024
#: A sample's estimate is trusted to within this factor either way.
_SAMPLE_MARGIN = 1.2
#: Characters per token that ASCII text practically never goes below (code and prose run at
#: ~3-4.5; random base64 ~2.5). Non-ASCII text counts one token per byte, its hard limit.
_SAFE_ASCII_CHARS_PER_TOKEN = 2
#: Bytes per token that real text practically never exceeds (long whitespace runs in code
#: come closest); used only to decide that a prompt is far above a threshold.
_MAX_BYTES_PER_TOKEN = 8
_PER_MESSAGE = 8
_PER_IMAGE = 2000  # no image costs more in any provider's accounting we know of


class RequestFacts:
    """What rules look at, read once from the request.

    Input tokens are never counted on the event loop: decisions use bounds built from the
    text's size (one pass over the message parts, not over the characters), and only a
    decision that the bounds cannot settle asks for the exact count (:class:`TokensNeeded`).
    """

    __slots__ = (
        "_ascii",
        "_count",
        "_images",
        "_other_bytes",
        "_sample",
        "_sampled",
        "_tokens",
        "has_tools",
        "headers",
        "json_mode",
        "max_tokens",
        "metadata",
        "model",
        "request",
        "stream",
    )

    def __init__(
        self,
        req: ChatRequest,
        headers: Mapping[str, str],
        count: Callable[[ChatRequest], Awaitable[int]] | None = None,
        labels: Mapping[str, str] | None = None,
        sample: Callable[[ChatRequest], Awaitable[float]] | None = None,
    ) -> None:
        self.request = req
        self.model = req.model
        self.headers = headers
        self.metadata: Mapping[str, str] = {**req.metadata, **labels} if labels else req.metadata
        self.max_tokens = req.max_tokens or 0
        self.has_tools = bool(req.tools)
        fmt = req.response_format.get("type") if req.response_format else None
        self.json_mode = fmt in _JSON_FORMATS
        self.stream = req.stream
        self._count = count
        self._sample = sample
        #: (at least, at most) from a tokenized sample, once taken.
        self._sampled: tuple[int, int] | None = None
        self._tokens: int | None = None
        self._ascii = -1
        self._other_bytes = 0
        self._images = 0

    @property
    def user(self) -> str | None:
        return self.request.user or self.headers.get("x-plano-user")

    @property
    def team(self) -> str | None:
        return self.metadata.get("team") or self.headers.get("x-plano-team")

    @property
    def tags(self) -> frozenset[str]:
        raw = f"{self.metadata.get('tags', '')},{self.headers.get('x-plano-tags', '')}"
        return frozenset(t.strip() for t in raw.split(",") if t.strip())

    @property
    def has_images(self) -> bool:
        if self._ascii < 0:
            self._measure()
        return self._images > 0

    # ------------------------------------------------------------------ input tokens

    def _measure(self) -> None:
        size = text_size(self.request)
        self._ascii = size.ascii_chars
        self._images = size.images
        self._other_bytes = (
            size.other_bytes + _PER_IMAGE * size.images + _PER_MESSAGE * (size.messages + 2)
        )

    def text_bytes(self) -> int:
        if self._ascii < 0:
            self._measure()
        return self._ascii + self._other_bytes

    def tokens_at_most(self) -> int:
        """A hard upper bound: a byte-level BPE token is at least one byte."""
        return self._tokens if self._tokens is not None else self.text_bytes()

    def likely_at_most(self) -> int:
        """A practical upper bound: ASCII text at no fewer than 2 characters a token (or,
        once sampled, the sample's estimate plus its margin)."""
        if self._tokens is not None:
            return self._tokens
        self.text_bytes()
        bound = self._ascii // _SAFE_ASCII_CHARS_PER_TOKEN + self._other_bytes
        return min(bound, self._sampled[1]) if self._sampled else bound

    def likely_at_least(self) -> int:
        if self._tokens is not None:
            return self._tokens
        bound = self.text_bytes() // _MAX_BYTES_PER_TOKEN
        return max(bound, self._sampled[0]) if self._sampled else bound

    def approx_tokens(self) -> int:
        """The token count if it was counted, else ~4 characters a token (cost ranking)."""
        if self._tokens is not None:
            return self._tokens
        self.text_bytes()
        return self._ascii // 4 + self._other_bytes // 3

    @property
    def input_tokens(self) -> int:
        """The exact count; :class:`TokensNeeded` until :meth:`count_exact` ran."""
        if self._tokens is None:
            raise TokensNeeded
        return self._tokens

    def tokens_within(self, low: float | None, high: float | None) -> bool:
        """Whether the input tokens lie in ``[low, high]`` (either end open when None),
        decided from bounds when they settle it; else :class:`TokensNeeded`."""
        lo, hi = self.likely_at_least(), self.likely_at_most()
        if (high is not None and lo > high) or (low is not None and hi < low):
            return False
        if (low is None or lo >= low) and (high is None or hi <= high):
            return True
        if self._tokens is None:
            raise TokensNeeded
        return (low is None or self._tokens >= low) and (high is None or self._tokens <= high)

    @property
    def counted(self) -> bool:
        return self._tokens is not None

    async def refine(self) -> None:
        """Know more about the input tokens, off the event loop: first (for prompts past
        :data:`SAMPLE_FROM_BYTES`) a tokenized sample of the text, whose estimate narrows the
        bounds to within its margin; then, if a decision still depends on it, the exact count
        (prompts past :data:`COUNT_CAP_BYTES` keep the estimate)."""
        if self._tokens is not None:
            return
        size = self.text_bytes()
        if self._sampled is None and self._sample is not None and size > SAMPLE_FROM_BYTES:
            est = await self._sample(self.request)
            self._sampled = (int(est / _SAMPLE_MARGIN), int(est * _SAMPLE_MARGIN) + 1)
            return
        await self.count_exact()

    async def count_exact(self) -> int:
        """Count the input tokens (the counter runs off the event loop); prompts past
        :data:`COUNT_CAP_BYTES` keep the estimate."""
        if self._tokens is None:
            if self._count is None or self.text_bytes() > COUNT_CAP_BYTES:
                self._tokens = self.approx_tokens()
            else:
                self._tokens = await self._count(self.request)
        return self._tokens

    @property
    def session(self) -> str | None:
        """The conversation's affinity key: Plano's header, ours, or request metadata."""
        return (
            self.headers.get("x-model-affinity")
            or self.headers.get("x-plano-session-id")
            or self.metadata.get("session_id")
        )


Check = Callable[[RequestFacts], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    target: str
    fallbacks: tuple[str, ...]
    checks: tuple[Check, ...]

    def matches(self, facts: RequestFacts) -> bool:
        return all(check(facts) for check in self.checks)


def _in_range(r: Range) -> Callable[[float], bool]:
    def inside(v: float) -> bool:
        return (
            (r.gt is None or v > r.gt)
            and (r.gte is None or v >= r.gte)
            and (r.lt is None or v < r.lt)
            and (r.lte is None or v <= r.lte)
        )

    return inside


def _int_bounds(r: Range) -> tuple[float | None, float | None]:
    """An integer range's inclusive ends (token counts are integers: ``gt 9.5`` is ``>= 10``)."""
    lows = [v for v in (r.gte, None if r.gt is None else math.floor(r.gt) + 1) if v is not None]
    highs = [v for v in (r.lte, None if r.lt is None else math.ceil(r.lt) - 1) if v is not None]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _mapping_check(wanted: Mapping[str, Sequence[str]], pick: str) -> Check:
    patterns = {k.lower() if pick == "headers" else k: NamePattern(v) for k, v in wanted.items()}

    def check(f: RequestFacts) -> bool:
        source: Mapping[str, str] = f.headers if pick == "headers" else f.metadata
        for key, pattern in patterns.items():
            value = source.get(key)
            if value is None or not pattern.matches(value):
                return False
        return True

    return check


def _flag(name: str, want: bool) -> Check:
    return lambda f: bool(getattr(f, name)) is want


def compile_rule(rule: RoutingRule) -> Rule:
    w = rule.when
    checks: list[Check] = []
    if w.model is not None:
        models = NamePattern(w.model)
        checks.append(lambda f: models.matches(f.model))
    for name in ("has_tools", "has_images", "json_mode", "stream"):
        want = getattr(w, name)
        if want is not None:
            checks.append(_flag(name, want))
    if w.max_tokens is not None:
        in_max = _in_range(w.max_tokens)
        checks.append(lambda f: in_max(f.max_tokens))
    if w.user is not None:
        users = NamePattern(w.user)
        checks.append(lambda f: users.matches(f.user))
    if w.team is not None:
        teams = NamePattern(w.team)
        checks.append(lambda f: teams.matches(f.team))
    if w.tags is not None:
        tags = frozenset(w.tags)
        checks.append(lambda f: not tags.isdisjoint(f.tags))
    if w.headers:
        checks.append(_mapping_check(w.headers, "headers"))
    if w.metadata:
        checks.append(_mapping_check(w.metadata, "metadata"))
    if w.input_tokens is not None:  # last: the only check that may count tokens
        low, high = _int_bounds(w.input_tokens)
        checks.append(lambda f: f.tokens_within(low, high))
    return Rule(rule.name, rule.route_to, tuple(rule.fallbacks), tuple(checks))


def first_match(rules: Sequence[Rule], facts: RequestFacts) -> Rule | None:
    for rule in rules:
        if rule.matches(facts):
            return rule
    return None
