"""Cross-field checks of ``auth:``: static keys that cannot work or could be guessed, ids
used twice, model names a key allows that name nothing. Returns issues; never raises, and no
message ever holds a key."""

from __future__ import annotations

import fnmatch
import time

from plano.config.issues import ConfigIssue
from plano.config.names import ModelNames
from plano.config.schema import ModelProvider, PlanoConfig

__all__ = ["MIN_KEY_LENGTH", "check_auth"]

#: Shortest static key accepted (a dynamic key has 46 characters).
MIN_KEY_LENGTH = 16
_GLOB = frozenset("*?[")


def check_auth(
    config: PlanoConfig, names: ModelNames[ModelProvider], now: float | None = None
) -> list[ConfigIssue]:
    """``now``: epoch seconds expiries are compared with (default: the clock)."""
    auth = config.auth
    now = time.time() if now is None else now
    if auth is None:
        return []
    issues: list[ConfigIssue] = []
    ids: dict[str, int] = {}
    secrets: dict[str, int] = {}
    known = names.names() + list(config.model_pools)
    for i, key in enumerate(auth.keys):
        at = f"auth.keys[{i}]"
        if key.id in ids:
            issues.append(ConfigIssue(f"{at}.id", f"{key.id!r} is also auth.keys[{ids[key.id]}]"))
        ids.setdefault(key.id, i)
        if not key.key:
            issues.append(ConfigIssue(f"{at}.key", "empty (is its environment variable set?)"))
        elif len(key.key) < MIN_KEY_LENGTH:
            issues.append(
                ConfigIssue(f"{at}.key", f"too short: a key needs {MIN_KEY_LENGTH}+ characters")
            )
        elif key.key in secrets:
            issues.append(
                ConfigIssue(f"{at}.key", f"the same key as auth.keys[{secrets[key.key]}]")
            )
        if key.key:
            secrets.setdefault(key.key, i)
        if key.expires is not None and key.expires <= now:
            issues.append(
                ConfigIssue(f"{at}.expires", "already past: the key never works", "warning")
            )
        for j, pattern in enumerate(key.models):
            if not _names_something(pattern, names, known, config):
                issues.append(
                    ConfigIssue(
                        f"{at}.models[{j}]",
                        f"{pattern!r} matches no model, name, alias or pool of this config",
                        "warning",
                    )
                )
    return issues


def _names_something(
    pattern: str, names: ModelNames[ModelProvider], known: list[str], config: PlanoConfig
) -> bool:
    if _GLOB.isdisjoint(pattern):
        return pattern in config.model_pools or names.resolves(pattern)
    bare = {p.model_id for p in config.model_providers}
    return any(fnmatch.fnmatchcase(n, pattern) for n in [*known, *bare])
