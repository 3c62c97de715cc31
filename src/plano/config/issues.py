"""Config problems as values, and pydantic's validation errors rewritten for people.

Pydantic's messages name Python types and internal union branches ("Input should be a valid
integer, unable to parse string as an integer" at ``listeners.list.0.port``). Users wrote YAML,
so an issue names the YAML path (``listeners[0].port``), says what was expected in YAML terms,
and suggests the nearest key when one was misspelt.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "ConfigIssue",
    "Severity",
    "describe",
    "did_you_mean",
    "format_path",
    "issues_from_validation",
]

#: ``offline``: accepted and served, but what the key names is on the internet; the message
#: says what happens without it.
Severity: TypeAlias = Literal["error", "warning", "offline", "unsupported"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config: where (a YAML path), what, and how bad.

    ``unsupported`` marks keys that Plano defines and we accept but do not act on yet.
    """

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_/*:-]+$")


def format_path(parts: Iterable[str | int]) -> str:
    """``["listeners", 0, "port"]`` -> ``listeners[0].port``; odd keys are quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def describe(value: object) -> str:
    """A value as the user wrote it in YAML, for "got ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value) if isinstance(value, str) else str(value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# What each pydantic type error expected, in YAML words.
_EXPECTED: dict[str, str] = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def issues_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per pydantic error, with YAML paths and plain messages."""
    return [_issue(error, root) for error in exc.errors()]


def _issue(error: ErrorDetails, root: type[BaseModel]) -> ConfigIssue:
    kind = error["type"]
    loc = error["loc"]
    if kind in ("missing", "extra_forbidden") and loc:
        parent_parts, parent_model = _resolve(root, loc[:-1])
        key = str(loc[-1])
        if kind == "missing":
            return ConfigIssue(format_path(parent_parts), f"missing required key {key!r}")
        names = _field_names(parent_model)
        return ConfigIssue(
            format_path(parent_parts), f"unknown key {key!r}{did_you_mean(key, names)}"
        )
    parts, _ = _resolve(root, loc)
    if kind == "union_tag_invalid":
        # A tagged union keyed on "type" (filters): name the key the user wrote.
        return ConfigIssue(format_path([*parts, "type"]), _unknown_tag(error))
    return ConfigIssue(format_path(parts), _message(error))


def _unknown_tag(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    choices = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected_tags", "")))
    tag = str(ctx.get("tag", ""))
    return f"unknown type {tag!r}; expected one of {', '.join(choices)}{did_you_mean(tag, choices)}"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    got = describe(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "literal_error":
        choices = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        value = error.get("input")
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        return f"expected one of {', '.join(choices)}, got {got}{hint}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {_number(ctx.get(key))}, got {_number(error.get('input'))}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    return str(error["msg"])


def _number(value: object) -> str:
    # Durations arrive as floats; "0" reads better than "0.0" next to what the user wrote.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return describe(value)


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    names = list(model.model_fields)
    names += [f.alias for f in model.model_fields.values() if f.alias]
    return names


def _resolve(
    root: type[BaseModel], loc: Sequence[str | int]
) -> tuple[list[str | int], type[BaseModel] | None]:
    """Walk ``loc`` through the model's types: drop union tags, find the model reached."""
    current: list[Any] = [root]
    parts: list[str | int] = []
    for key in loc:
        branches = [branch for tp in current for branch in _branches(tp)]
        tagged = [tp for tp, tag in branches if tag is not None and tag == key]
        if tagged:
            # A discriminated-union tag such as "list"/"legacy": not something the user wrote.
            current = tagged
            continue
        parts.append(key)
        current = [nxt for tp, _ in branches if (nxt := _step(tp, key)) is not None]
    for candidate, _ in (branch for tp in current for branch in _branches(tp)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return parts, candidate
    return parts, None


def _branches(tp: Any) -> list[tuple[Any, str | None]]:
    """The concrete types behind ``Annotated``/``Union`` wrappers, each with its union tag."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *metadata = get_args(tp)
        tag = next((m.tag for m in metadata if isinstance(m, Tag)), None)
        return [(t, tag if tag is not None else sub) for t, sub in _branches(inner)]
    if origin is Union or origin is types.UnionType:
        return [branch for arg in get_args(tp) for branch in _branches(arg)]
    return [(tp, None)]


def _step(tp: Any, key: str | int) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(key) if isinstance(key, str) else None
        return field.annotation if field is not None else None
    origin = get_origin(tp)
    if origin is list and isinstance(key, int):
        return get_args(tp)[0]
    if origin is dict and isinstance(key, str):
        return get_args(tp)[1]
    return None
