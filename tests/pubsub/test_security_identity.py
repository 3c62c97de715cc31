"""Who a pub/sub caller is, under hostile or stale credentials: a token that is not ASCII is
nobody (never a crash), and a static key past its ``expires`` is nobody too (it would still
publish and subscribe as ``key:<id>`` otherwise)."""

from __future__ import annotations

from pathlib import Path

from plano.config import check_config
from plano.pubsub.identity import Identities
from plano.server.pubsub_api import identities_for

KEY = "sk-static-key-0123456789"


def test_an_expired_static_key_is_anonymous() -> None:
    now = [1000.0]
    ids = Identities(keys={KEY: "bot"}, expires={"bot": 1500.0}, clock=lambda: now[0])
    headers = {"authorization": f"Bearer {KEY}"}
    assert ids.who(headers) == "key:bot"
    now[0] = 1500.0
    assert ids.who(headers) == "anonymous"


def test_tokens_that_are_not_ascii_are_anonymous() -> None:
    ids = Identities(keys={KEY: "bot"}, admin_key="ключ-админа")
    for value in ("\udcff\udcfe", "ключ-админа", "é" * 20):
        assert ids.who({"x-plano-key": value}) == "anonymous"
        assert ids.who({"authorization": f"Bearer {value}"}) == "anonymous"


def test_the_config_expiry_reaches_the_topics_identities(tmp_path: Path) -> None:
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "auth": {
            "keys": [
                {"id": "old", "key": "$OLD", "expires": "2001-01-01"},
                {"id": "live", "key": "$LIVE"},
            ]
        },
    }
    config, issues = check_config(data, {"OLD": "o" * 20, "LIVE": "l" * 20}, tmp_path)
    assert config is not None, [str(i) for i in issues]
    ids = identities_for(config, None)
    assert ids.who({"x-plano-key": "o" * 20}) == "anonymous"
    assert ids.who({"x-plano-key": "l" * 20}) == "key:live"
