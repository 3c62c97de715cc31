"""Helpers the wire modules share (pure): type checks that name the parameter, data URLs,
tool-choice forms and tool-call arguments as objects.

Parsers validate a client's body as they read it. Every client value is type-checked before it
is used as a dict key, a set member or formatted into a message, so a malformed body is a 400
naming the parameter, never a ``TypeError`` (a 500) further on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import orjson

from plano.core.model import Message, ToolChoice
from plano.errors import InvalidRequest

__all__ = [
    "ARRAY",
    "BOOLEAN",
    "INTEGER",
    "JSON_SCHEMA",
    "NUMBER",
    "OBJECT",
    "STRING",
    "Kind",
    "Rule",
    "arguments_object",
    "bad",
    "call_names",
    "check",
    "data_url",
    "forced_tool",
    "invalid",
    "json_text",
    "kind_of",
    "missing",
    "need",
    "opt",
    "opt_enum",
    "opt_int",
    "opt_list",
    "opt_strings",
    "path",
    "string_map",
    "tool_mode",
    "typename",
]

#: A parameter's JSON type(s) and how messages name them.
Kind: TypeAlias = tuple[type | tuple[type, ...], str]
STRING: Kind = (str, "a string")
BOOLEAN: Kind = (bool, "a boolean")
INTEGER: Kind = (int, "an integer")
NUMBER: Kind = ((int, float), "a number")
OBJECT: Kind = (dict, "an object")
ARRAY: Kind = (list, "an array")
#: What one optional parameter must be: of a JSON type, or one of a few strings.
Rule: TypeAlias = Kind | frozenset[str]

# OpenAI's documented limits for ``metadata``.
_META_PAIRS = 16
_META_KEY = 64
_META_VALUE = 512
#: Longest piece of a client's value quoted back in an error message.
_QUOTE = 64


#: OpenAI's ``json_schema`` response format (chat and Responses spell it the same way).
JSON_SCHEMA: dict[str, Rule] = {
    "name": STRING,
    "description": STRING,
    "schema": OBJECT,
    "strict": BOOLEAN,
}


def path(where: str, key: str) -> str:
    """The parameter name of ``key`` inside ``where`` (``""`` for the body itself)."""
    return f"{where}.{key}" if where else key


def bad(msg: str, param: str) -> InvalidRequest:
    """A 400 that names the offending parameter: a value of the wrong type."""
    return InvalidRequest(msg, param=param, code="invalid_type")


def invalid(msg: str, param: str) -> InvalidRequest:
    """A 400 that names the offending parameter: a value of the right type, not allowed."""
    return InvalidRequest(msg, param=param, code="invalid_value")


def missing(param: str, what: str) -> InvalidRequest:
    """A 400 for a required parameter that is absent (or null)."""
    return InvalidRequest(
        f"Missing required parameter: '{param}' ({what}).",
        param=param,
        code="missing_required_parameter",
    )


def typename(v: object) -> str:
    """The JSON type name of a parsed value, for error messages."""
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(v), "null" if v is None else "number"
    )


def opt(
    body: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    what: str,
    where: str = "",
) -> Any:
    """``body[key]`` when present and of ``kind``; ``None`` when absent or null; else a 400
    naming ``where.key``."""
    v = body.get(key)
    if v is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass: reject it where a number is expected.
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
        p = path(where, key)
        raise bad(f"Invalid type for '{p}': expected {what}, got {typename(v)}.", p)
    return v


def need(body: Mapping[str, Any], key: str, kind: Kind, where: str = "") -> Any:
    """A required parameter: like :func:`opt`, but absent or null is a 400 too."""
    v = opt(body, key, kind[0], kind[1], where)
    if v is None:
        raise missing(path(where, key), kind[1])
    return v


def opt_list(body: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
    """An optional array parameter (empty when absent)."""
    v = opt(body, key, list, "an array", where)
    return v if v is not None else []


def opt_int(
    body: Mapping[str, Any], key: str, *, minimum: int | None = None, where: str = ""
) -> int | None:
    """An optional integer parameter, at least ``minimum`` when one is given."""
    v: int | None = opt(body, key, int, "an integer", where)
    if v is not None and minimum is not None and v < minimum:
        p = path(where, key)
        raise invalid(f"'{p}' must be at least {minimum}.", p)
    return v


def opt_enum(
    body: Mapping[str, Any], key: str, values: frozenset[str], where: str = ""
) -> str | None:
    """An optional string parameter that must be one of ``values``."""
    v: str | None = opt(body, key, str, "a string", where)
    if v is not None and v not in values:
        p = path(where, key)
        raise invalid(f"Invalid value for '{p}': expected one of {', '.join(sorted(values))}.", p)
    return v


def opt_strings(body: Mapping[str, Any], key: str, where: str = "") -> list[str]:
    """An optional array of strings (empty when absent)."""
    v = opt_list(body, key, where)
    for j, s in enumerate(v):
        if not isinstance(s, str):
            p = f"{path(where, key)}[{j}]"
            raise bad(f"Invalid type for '{p}': expected a string, got {typename(s)}.", p)
    return v


def check(body: Mapping[str, Any], rules: Mapping[str, Rule], where: str = "") -> None:
    """Check the optional parameters ``rules`` names (those present and not null): mostly the
    ones Plano passes on without reading them."""
    for key, rule in rules.items():
        if body.get(key) is None:
            continue
        if isinstance(rule, frozenset):
            opt_enum(body, key, rule, where)
        else:
            opt(body, key, rule[0], rule[1], where)


def kind_of(value: Any, at: str, kinds: frozenset[str], what: str) -> str:
    """The ``type`` of a content part, block or item at ``at``, which must be an object whose
    type is one of ``kinds`` (``what`` names the family of types in the message)."""
    if not isinstance(value, dict):
        raise bad(f"Invalid type for '{at}': expected an object, got {typename(value)}.", at)
    kind = value.get("type")
    if kind is None:
        raise missing(f"{at}.type", f"a {what} type")
    if not isinstance(kind, str):
        p = f"{at}.type"
        raise bad(f"Invalid type for '{p}': expected a string, got {typename(kind)}.", p)
    if kind not in kinds:
        got = kind[:_QUOTE]
        msg = (
            f"expected one of {', '.join(sorted(kinds))}, got '{got}'"
            if len(kinds) <= 8
            else f"'{got}' is not a {what} type this API defines"
        )
        raise invalid(f"Invalid value for '{at}.type': {msg}.", f"{at}.type")
    return kind


def string_map(body: Mapping[str, Any], key: str = "metadata") -> dict[str, str]:
    """OpenAI ``metadata``: at most 16 pairs of string keys (64 characters) and string values
    (512). Numbers and booleans are stringified, as Plano always did, so loosely typed clients
    keep routing on them; nested values are refused."""
    meta = opt(body, key, dict, "an object of strings")
    if not meta:
        return {}
    if len(meta) > _META_PAIRS:
        raise invalid(f"'{key}' has {len(meta)} pairs; at most {_META_PAIRS} are allowed.", key)
    out: dict[str, str] = {}
    for k, v in meta.items():
        if len(k) > _META_KEY:
            raise invalid(f"'{key}' keys must be at most {_META_KEY} characters.", key)
        at = f"{key}.{k}"
        if isinstance(v, str):
            text = v
        elif isinstance(v, int | float):
            text = str(v)
        else:
            raise bad(f"Invalid type for '{at}': expected a string, got {typename(v)}.", at)
        if len(text) > _META_VALUE:
            raise invalid(f"'{at}' must be at most {_META_VALUE} characters.", at)
        out[k] = text
    return out


def json_text(value: Any, where: str) -> str:
    """``value`` as JSON text. orjson refuses values nested past 255 levels; such a value is the
    client's mistake (a 400), not a bug."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise invalid(f"'{where}' cannot be encoded as JSON: {exc}.", where) from exc


def data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a ``data:<media>;base64,<data>`` URL, else ``None``."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def forced_tool(choice: ToolChoice | None) -> str | None:
    """The tool a tool choice forces, whatever shape wrote it: ``{"name": n}``,
    ``{"type": "function", "name": n}`` or ``{"type": "function", "function": {"name": n}}``."""
    if not isinstance(choice, dict):
        return None
    fn = choice.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return str(fn["name"])
    name = choice.get("name")
    return name if isinstance(name, str) else None


def tool_mode(choice: ToolChoice | None) -> Literal["auto", "none", "required"] | None:
    """``auto``/``none``/``required`` for a string choice (a forced tool counts as required)."""
    if choice in ("auto", "none", "required"):
        return choice  # type: ignore[return-value]
    if forced_tool(choice) is not None:
        return "required"
    return None


def arguments_object(text: str, where: str) -> dict[str, Any]:
    """Tool-call arguments (JSON text) as an object, for families that need one. Empty text is
    ``{}``; anything else that is not a JSON object is a 400 rather than a guess."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"'{where}' must be a JSON object: the upstream needs tool arguments as an object.",
            param=where,
            code="invalid_value",
        )
    return value


def call_names(messages: list[Message]) -> dict[str, str]:
    """Tool-call id -> tool name over a conversation, to name tool results for families that
    match results by name (Gemini)."""
    return {c.id: c.name for m in messages for c in m.tool_calls if c.id}
