"""Tool-use rules without Rego (``tool_rules:``): allow/deny lists of tool names per key,
user, team, tenant, tag, agent or listener, on the tools a request offers and on the tool
calls an answer makes. Pure: compiled once from the config, asked per tool.

A tool is refused by a rule that applies to the request when it matches one of the rule's
``deny`` globs, or when the rule has an ``allow`` list and it matches none of it. The most
severe refusal wins: ``block`` (403) over ``strip`` (removed, the request goes on).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from plano.config.policies import ToolMatch, ToolRule
from plano.pipeline.context import RequestContext

__all__ = ["Refusal", "ToolRules", "Who"]

Side = Literal["offered", "called"]


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True, slots=True)
class Who:
    """What a tool rule's ``match`` reads from a request."""

    key: str
    user: str | None
    team: str | None
    tenant: str | None
    tags: frozenset[str]
    agent: str | None
    listener: str

    @classmethod
    def of(cls, ctx: RequestContext) -> Who:
        p = ctx.principal
        return cls(p.id, p.user, p.team, p.tenant, p.tags, ctx.agent_id, ctx.listener)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule refusing a tool: its name in decisions and what to do."""

    rule: str
    action: Literal["strip", "block"]


class _Match:
    def __init__(self, m: ToolMatch) -> None:
        self.fields = [
            (name, pattern)
            for name, values in (
                ("key", m.key),
                ("user", m.user),
                ("team", m.team),
                ("tenant", m.tenant),
                ("agent", m.agent),
                ("listener", m.listener),
            )
            if (pattern := _globs(values)) is not None
        ]
        self.tags = _globs(m.tag)

    def __call__(self, who: Who) -> bool:
        for name, pattern in self.fields:
            value = getattr(who, name)
            if value is None or not pattern.fullmatch(value):
                return False
        return self.tags is None or any(self.tags.fullmatch(t) for t in who.tags)


@dataclass(frozen=True, slots=True)
class _Rule:
    refusal: Refusal
    match: _Match
    allow: re.Pattern[str] | None
    deny: re.Pattern[str] | None
    sides: frozenset[Side]

    def refuses(self, tool: str) -> bool:
        if self.deny is not None and self.deny.fullmatch(tool):
            return True
        return self.allow is not None and not self.allow.fullmatch(tool)


def _compile(index: int, rule: ToolRule) -> _Rule:
    sides: frozenset[Side] = (
        frozenset(("offered", "called")) if rule.apply_to == "both" else frozenset((rule.apply_to,))
    )
    return _Rule(
        Refusal(rule.name or f"tool_rules[{index}]", rule.action),
        _Match(rule.match),
        _globs(rule.allow),
        _globs(rule.deny),
        sides,
    )


class ToolRules:
    """The compiled ``tool_rules``; :meth:`for_request` selects those that apply."""

    def __init__(self, rules: Sequence[ToolRule]) -> None:
        self._rules = [_compile(i, r) for i, r in enumerate(rules)]
        self._cache: dict[tuple[Who, Side], tuple[_Rule, ...]] = {}

    def covers(self, side: Side) -> bool:
        """Whether any rule looks at this side (no rule: no work, no hook)."""
        return any(side in r.sides for r in self._rules)

    def for_request(self, who: Who, side: Side) -> tuple[_Rule, ...]:
        """The rules that apply to ``who`` on ``side`` (cached per caller; bounded)."""
        key = (who, side)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= 4096:
                self._cache.clear()
            found = tuple(r for r in self._rules if side in r.sides and r.match(who))
            self._cache[key] = found
        return found

    @staticmethod
    def refusal(rules: Sequence[_Rule], tool: str) -> Refusal | None:
        """How ``tool`` is refused by ``rules`` (a block over a strip), or ``None``."""
        found: Refusal | None = None
        for r in rules:
            if r.refuses(tool):
                if r.refusal.action == "block":
                    return r.refusal
                found = found or r.refusal
        return found
