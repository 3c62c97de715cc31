"""``GET /plano/v1/agents`` (what the dashboard shows) never carries a credential written
into an agent's URL."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from plano.agents.directory import StaticDirectory
from plano.config import check_config
from plano.server.agents_api import agents_status


def test_credentials_in_an_agent_url_are_not_shown(tmp_path: Path) -> None:
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "agents": [
            {"id": "secret", "url": "http://bot:hunter2-pass@127.0.0.1:10510/v1"},
            {"id": "query", "url": "http://127.0.0.1:10520/?api_key=qk-secret"},
            {"id": "plain", "url": "http://127.0.0.1:10530"},
        ],
    }
    config, issues = check_config(data, {}, tmp_path)
    assert config is not None, [str(i) for i in issues]
    resources = SimpleNamespace(agents=StaticDirectory.from_config(config.agents))
    rows = {r["id"]: r for r in agents_status(config, resources)}
    text = repr(rows)
    assert "hunter2-pass" not in text and "qk-secret" not in text
    assert rows["secret"]["url"] == "http://bot@127.0.0.1:10510/v1"
    assert rows["query"]["url"] == "http://127.0.0.1:10520/"
    assert rows["plain"]["url"] == "http://127.0.0.1:10530"  # untouched
    assert rows["plain"]["replicas"] == [{"url": "http://127.0.0.1:10530"}]
