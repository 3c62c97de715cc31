"""Declarative routing rules, compiled once, evaluated in order against one request's facts.

A rule is a list of checks (all must hold) and a target (pool, alias or model). Checks are
ordered cheapest first; the input-token estimate, the only costly fact, is computed once and
only when a rule asks for it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from plano.config.routing import Range, RoutingRule
from plano.core.model import ChatRequest, TextPart, ThinkingPart

__all__ = ["NamePattern", "RequestFacts", "Rule", "compile_rule", "first_match"]

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


class RequestFacts:
    """What rules look at, read once from the request. ``input_tokens`` is counted lazily."""

    __slots__ = (
        "_chars",
        "_count",
        "_tokens",
        "has_images",
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
        count: Callable[[ChatRequest], int],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.request = req
        self.model = req.model
        self.headers = headers
        self.metadata: Mapping[str, str] = {**req.metadata, **labels} if labels else req.metadata
        self.max_tokens = req.max_tokens or 0
        self.has_tools = bool(req.tools)
        self.has_images = req.has_images
        fmt = req.response_format.get("type") if req.response_format else None
        self.json_mode = fmt in _JSON_FORMATS
        self.stream = req.stream
        self._count = count
        self._tokens: int | None = None
        self._chars: int | None = None

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
    def input_tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self._count(self.request)
        return self._tokens

    def tokens_at_most(self) -> int:
        """A cheap upper bound of the input tokens (no tokenizer): a token is at least half a
        character in every encoding we count with, and an image at most ~2,000 tokens."""
        if self._tokens is not None:
            return self._tokens
        if self._chars is None:
            n = 0
            for m in self.request.messages:
                for p in m.content:
                    n += len(p.text) if isinstance(p, TextPart | ThinkingPart) else 1000
                for c in m.tool_calls:
                    n += len(c.name) + len(c.arguments)
            for t in self.request.tools:
                n += len(t.name) + len(t.description or "") + len(str(t.parameters))
            self._chars = n
        return 2 * self._chars + 8 * len(self.request.messages) + 16

    def approx_tokens(self) -> int:
        """The token count if it was counted, else ~4 characters a token (for cost ranking)."""
        if self._tokens is not None:
            return self._tokens
        self.tokens_at_most()
        return (self._chars or 0) // 4 + 4 * len(self.request.messages)

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
        in_tokens = _in_range(w.input_tokens)
        checks.append(lambda f: in_tokens(f.input_tokens))
    return Rule(rule.name, rule.route_to, tuple(rule.fallbacks), tuple(checks))


def first_match(rules: Sequence[Rule], facts: RequestFacts) -> Rule | None:
    for rule in rules:
        if rule.matches(facts):
            return rule
    return None
