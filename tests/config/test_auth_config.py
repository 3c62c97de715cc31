"""The ``auth:`` section: its format, expiry times, and the checks `plano validate` runs
(ids and keys used twice, keys too short or unset, names that name nothing); no issue ever
shows a key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from plano.config import check_config, json_schema
from plano.config.auth import parse_timestamp

KEY = "team-a-key-0123456789"


def base(auth: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "access_key": "k", "default": True},
            {"model": "groq/*", "access_key": "k"},
        ],
        "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}},
        "auth": auth,
    }


def issues_of(auth: Any, env: dict[str, str] | None = None) -> list[str]:
    _config, issues = check_config(base(auth), env or {})
    return [f"{i.severity} {i}" for i in issues]


def test_a_full_section_reads_as_documented() -> None:
    auth = {
        "keys": [
            {
                "id": "support-bot",
                "key": "$BOT_KEY",
                "name": "the support bot",
                "principal": {"user": "bot", "team": "support", "tenant": "acme", "tags": ["p"]},
                "models": ["openai/*", "fast"],
                "agents": ["support"],
                "budgets": ["monthly"],
                "rate_limits": ["per-key"],
                "expires": dt.date(2099, 1, 1),
            }
        ],
        "cache_ttl": "2s",
    }
    config, issues = check_config(base(auth), {"BOT_KEY": KEY})
    assert config is not None and config.auth is not None, issues
    assert [i for i in issues if i.severity == "error"] == []
    (key,) = config.auth.keys
    assert key.key == KEY and KEY not in repr(key)
    assert key.expires == dt.datetime(2099, 1, 1, tzinfo=dt.UTC).timestamp()
    assert config.auth.cache_ttl == 2.0 and config.auth.enabled


def test_without_the_section_auth_is_off() -> None:
    raw = base(None)
    del raw["auth"]
    config, _ = check_config(raw, {})
    assert config is not None and config.auth is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1_900_000_000, 1_900_000_000.0),
        ("1900000000", 1_900_000_000.0),
        ("2030-01-02T03:04:05Z", 1893553445.0),
        ("2030-01-02T03:04:05", 1893553445.0),
        ("2030-01-02T05:04:05+02:00", 1893553445.0),
        (dt.date(2030, 1, 2), 1893542400.0),
    ],
)
def test_expiry_times(value: object, seconds: float) -> None:
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize("value", ["soon", True, -5, float("nan"), [1]])
def test_bad_expiry_times(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_keys_that_cannot_work_are_errors_and_never_shown() -> None:
    auth = {
        "keys": [
            {"id": "a", "key": KEY},
            {"id": "a", "key": KEY},
            {"id": "b", "key": "short"},
            {"id": "c", "key": "$UNSET"},
        ]
    }
    text = "\n".join(issues_of(auth))
    assert "error auth.keys[1].id: 'a' is also auth.keys[0]" in text
    assert "error auth.keys[1].key: the same key as auth.keys[0]" in text
    assert "error auth.keys[2].key: too short" in text
    assert "error auth.keys[3].key: empty (is its environment variable set?)" in text
    assert KEY not in text and "short'" not in text
    (bad,) = issues_of({"keys": [{"id": "bad id", "key": KEY}]})
    assert bad.startswith("error auth.keys[0].id: a key id is 1 to 128 letters")


def test_names_that_name_nothing_and_past_expiries_are_warnings() -> None:
    auth = {
        "keys": [
            {
                "id": "a",
                "key": KEY,
                "models": ["fast", "groq/llama-3", "openai/gpt-4*", "gtp-4o", "claude-*"],
                "expires": "2001-01-01",
            }
        ]
    }
    text = "\n".join(issues_of(auth))
    assert "warning auth.keys[0].models[3]: 'gtp-4o' matches no model" in text
    assert "warning auth.keys[0].models[4]: 'claude-*' matches no model" in text
    assert "models[0]" not in text and "models[1]" not in text and "models[2]" not in text
    assert "warning auth.keys[0].expires: already past" in text


def test_unknown_keys_in_the_section_are_errors() -> None:
    assert any("unknown key 'keyz'" in i for i in issues_of({"keyz": []}))


def test_the_json_schema_has_the_section() -> None:
    schema = json_schema()
    assert "auth" in schema["properties"]
