"""Decision rules' values read into a :class:`Verdict`, and verdicts applied to a request or an
answer. Pure: values in, values out (the filter records and raises).

The convention (``docs/policies.md``), per decision package (``package plano.<name>``):

=====================  ==========================================================  =========
rule                   value                                                       phases
=====================  ==========================================================  =========
``deny``               ``true``, a message, or a set of messages (or objects       both
                       ``{"message": ...}``): the request is refused, 403
``redact``             a regex, or objects ``{"pattern", "replacement",            request
                       "messages": [indexes], "roles": [roles]}``: matches in the
                       messages' text replaced (default ``[REDACTED]``)
``route``              a model name: the request goes to it instead                request
``cap_max_tokens``     a positive integer: ``max_tokens`` at most this              request
``strip_tools``        tool names: removed from the tools the request offers        request
``strip_tool_calls``   tool names or call ids: removed from the answer              response
=====================  ==========================================================  =========

A value of another type is the policy's error (treated as an evaluation error). Several
policies combine: every deny, redaction and strip counts; the smallest cap wins; the first
policy (in config order) that routes wins.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from plano.core.model import ChatRequest, TextPart, ToolCall

__all__ = [
    "DEFAULT_REPLACEMENT",
    "DecisionError",
    "Redaction",
    "Verdict",
    "apply_redactions",
    "cap_tokens",
    "parse_verdict",
    "refused_key",
    "strip_offered",
]

DEFAULT_REPLACEMENT = "[REDACTED]"
_DEFAULT_DENY = "denied by policy"


class DecisionError(ValueError):
    """A decision rule's value has the wrong shape (a policy bug, not the client's)."""


@dataclass(frozen=True, slots=True)
class Redaction:
    rule: str
    pattern: re.Pattern[str]
    replacement: str = DEFAULT_REPLACEMENT
    #: Message indexes to redact (``None``: every message).
    messages: frozenset[int] | None = None
    #: Roles whose messages to redact (``None``: every role).
    roles: frozenset[str] | None = None


@dataclass(slots=True)
class Verdict:
    """What one policy decided in one phase; each item carries the rule that decided it
    (``plano.support.deny``)."""

    policy: str
    denies: list[tuple[str, str]] = field(default_factory=list)
    redactions: list[Redaction] = field(default_factory=list)
    route: tuple[str, str] | None = None
    cap: tuple[str, int] | None = None
    strip_tools: dict[str, str] = field(default_factory=dict)
    strip_tool_calls: dict[str, str] = field(default_factory=dict)

    @property
    def acts(self) -> bool:
        """Whether it decided anything besides allowing."""
        return bool(
            self.denies
            or self.redactions
            or self.route
            or self.cap
            or self.strip_tools
            or self.strip_tool_calls
        )


def _items(value: Any) -> Iterable[Any]:
    if isinstance(value, set | frozenset | list | tuple):
        return sorted(value, key=repr) if isinstance(value, set | frozenset) else value
    return (value,)


def _denies(rule: str, value: Any) -> list[tuple[str, str]]:
    if value is False or value is None:
        return []
    if value is True:
        return [(rule, _DEFAULT_DENY)]
    out: list[tuple[str, str]] = []
    for item in _items(value):
        if isinstance(item, str) and item:
            out.append((rule, item))
        elif isinstance(item, Mapping) and isinstance(item.get("message", item.get("msg")), str):
            out.append((rule, str(item.get("message", item.get("msg")))))
        elif item is True:
            out.append((rule, _DEFAULT_DENY))
        else:
            raise DecisionError(f"{rule}: expected messages (strings), got {item!r}")
    return out


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _indexes(rule: str, value: Any, key: str, kind: type) -> frozenset[Any] | None:
    if value is None:
        return None
    items = list(_items(value))
    if not all(isinstance(i, kind) and not isinstance(i, bool) for i in items):
        raise DecisionError(f"{rule}: '{key}' must list {kind.__name__} values")
    return frozenset(items)


def _redactions(rule: str, value: Any) -> list[Redaction]:
    out: list[Redaction] = []
    for item in _items(value):
        spec: Mapping[str, Any] = {"pattern": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping) or not isinstance(spec.get("pattern"), str):
            raise DecisionError(f"{rule}: expected a pattern or {{pattern, ...}}, got {item!r}")
        try:
            pattern = _compiled(spec["pattern"])
        except re.error as exc:
            raise DecisionError(f"{rule}: invalid pattern: {exc}") from None
        replacement = spec.get("replacement", DEFAULT_REPLACEMENT)
        if not isinstance(replacement, str):
            raise DecisionError(f"{rule}: 'replacement' must be a string")
        messages = _indexes(rule, spec.get("messages"), "messages", int)
        roles = _indexes(rule, spec.get("roles"), "roles", str)
        out.append(Redaction(rule, pattern, replacement, messages, roles))
    return out


def _names(rule: str, value: Any, keys: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _items(value):
        if isinstance(item, str) and item:
            out[item] = rule
            continue
        found = [item.get(k) for k in keys] if isinstance(item, Mapping) else []
        names = [n for n in found if isinstance(n, str) and n]
        if not names:
            raise DecisionError(f"{rule}: expected tool names, got {item!r}")
        out.update((n, rule) for n in names)
    return out


def parse_verdict(policy: str, packages: Sequence[tuple[str, Mapping[str, Any]]]) -> Verdict:
    """The decision rules' values of a policy's packages; raises :class:`DecisionError`."""
    v = Verdict(policy)
    for package, values in packages:
        if "deny" in values:
            v.denies += _denies(f"{package}.deny", values["deny"])
        if "redact" in values:
            v.redactions += _redactions(f"{package}.redact", values["redact"])
        if "route" in values and v.route is None:
            model = values["route"]
            if not isinstance(model, str) or not model:
                raise DecisionError(f"{package}.route: expected a model name, got {model!r}")
            v.route = (f"{package}.route", model)
        if "cap_max_tokens" in values:
            cap = values["cap_max_tokens"]
            if isinstance(cap, float) and cap.is_integer():
                cap = int(cap)
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                message = f"{package}.cap_max_tokens: expected a positive integer, got {cap!r}"
                raise DecisionError(message)
            if v.cap is None or cap < v.cap[1]:
                v.cap = (f"{package}.cap_max_tokens", cap)
        if "strip_tools" in values:
            v.strip_tools.update(_names(f"{package}.strip_tools", values["strip_tools"], ("name",)))
        if "strip_tool_calls" in values:
            rule = f"{package}.strip_tool_calls"
            v.strip_tool_calls.update(_names(rule, values["strip_tool_calls"], ("name", "id")))
    return v


# ---------------------------------------------------------------------------- applying


def apply_redactions(req: ChatRequest, redactions: Sequence[Redaction]) -> tuple[int, int]:
    """Replace each redaction's matches in the text of the messages it selects. Returns
    ``(replacements, messages changed)``; the caller marks the request changed."""
    total = touched = 0
    for i, m in enumerate(req.messages):
        hit = 0
        for r in redactions:
            if (r.messages is not None and i not in r.messages) or (
                r.roles is not None and m.role not in r.roles
            ):
                continue
            for p in m.content:
                if isinstance(p, TextPart):
                    p.text, n = r.pattern.subn(r.replacement, p.text)
                    hit += n
        if hit:
            total += hit
            touched += 1
    return total, touched


def cap_tokens(req: ChatRequest, cap: int) -> int | None:
    """Lower ``max_tokens`` to ``cap``; returns the previous value when it changed (``0`` for
    none set), else ``None``."""
    if req.max_tokens is not None and req.max_tokens <= cap:
        return None
    before = req.max_tokens or 0
    req.max_tokens = cap
    return before


def strip_offered(req: ChatRequest, names: Iterable[str]) -> list[str]:
    """Remove the named tools from the request (and a ``tool_choice`` that forces one of
    them); returns the names removed."""
    gone = set(names)
    removed = [t.name for t in req.tools if t.name in gone]
    if not removed:
        return []
    req.tools = [t for t in req.tools if t.name not in gone]
    if _forced(req.tool_choice) in gone or not req.tools:
        req.tool_choice = None
    if not req.tools:
        req.parallel_tool_calls = None
    return removed


def _forced(choice: Any) -> str | None:
    """The tool a ``tool_choice`` forces: ``{"name"}`` or OpenAI's ``{"function": {"name"}}``."""
    if not isinstance(choice, dict):
        return None
    inner = choice.get("function")
    name = inner.get("name") if isinstance(inner, dict) else choice.get("name")
    return name if isinstance(name, str) else None


def refused_key(call: ToolCall, refused: Container[str]) -> str | None:
    """Which entry of ``refused`` names ``call`` (its name, else its id), if any."""
    if call.name in refused:
        return call.name
    return call.id if call.id and call.id in refused else None
