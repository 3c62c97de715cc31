"""``$VAR`` / ``${VAR}`` expansion in config values.

The environment is a parameter: the CLI passes ``os.environ``, tests pass a dict, and nothing
below the CLI reads the process environment. Expansion runs on the parsed tree, not the file
text, so it never touches keys, comments or YAML syntax, and each unset variable is reported
with the path of the value that used it: an error where the value is a credential (serving with
an empty key only fails later, upstream, with a confusing 401), a warning elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar, cast

from plano.config.issues import ConfigIssue, Severity, format_path

__all__ = ["SECRET_HEADERS", "SECRET_KEYS", "expand_env"]

_T = TypeVar("_T")
#: Keys whose value is a credential, wherever they appear.
SECRET_KEYS = frozenset(
    {"access_key", "api_key", "admin_key", "password", "connection_string", "redis", "postgres"}
)
#: Header names (any case) that carry a credential inside a ``headers``/``http_headers`` mapping.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
)
_HEADER_MAPS = frozenset({"headers", "http_headers"})
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(value: _T, env: Mapping[str, str]) -> tuple[_T, list[ConfigIssue]]:
    """Expand ``$VAR`` and ``${VAR}`` in every string of ``value`` (a string or a YAML tree).

    Returns the expanded copy and one issue per unset variable, e.g.
    ``model_providers[0].access_key: environment variable OPENAI_API_KEY is not set``: an error
    in a credential (:data:`SECRET_KEYS`, :data:`SECRET_HEADERS`), a warning elsewhere.
    Unset variables expand to an empty string, as in a shell.
    """
    issues: list[ConfigIssue] = []
    return cast(_T, _expand(value, env, [], issues)), issues


def _expand(
    value: object, env: Mapping[str, str], parts: list[str | int], issues: list[ConfigIssue]
) -> object:
    if isinstance(value, str):
        return _expand_text(value, env, parts, issues)
    if isinstance(value, dict):
        return {key: _expand(item, env, [*parts, str(key)], issues) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, env, [*parts, index], issues) for index, item in enumerate(value)]
    return value


def _expand_text(
    text: str, env: Mapping[str, str], parts: list[str | int], issues: list[ConfigIssue]
) -> str:
    severity: Severity = "error" if _is_secret(parts) else "warning"

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in env:
            return env[name]
        issues.append(
            ConfigIssue(format_path(parts), f"environment variable {name} is not set", severity)
        )
        return ""

    return _VAR.sub(substitute, text)


def _is_secret(parts: list[str | int]) -> bool:
    key = parts[-1] if parts else None
    if not isinstance(key, str):
        return False
    if key.lower() in SECRET_KEYS:
        return True
    return len(parts) >= 2 and parts[-2] in _HEADER_MAPS and key.lower() in SECRET_HEADERS
