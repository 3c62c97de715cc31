"""``plano init`` templates start with ``plano up`` (ports moved to free ones, upstream and
agent URLs pointed at a closed port on 127.0.0.1; the state template on the test machine's
Redis and PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import yaml
from tests.e2e.conftest import free_port, start_plano

from plano.init_cli import TEMPLATES, template_text

pytestmark = pytest.mark.e2e

CLOSED = "http://127.0.0.1:9"
ENV = {
    "OPENAI_API_KEY": "sk-test-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
    "APP_KEY": "pk-0123456789abcdef0123",
    "PLANO_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PLANO_PG_URL": "postgresql://postgres@127.0.0.1:5432/test",
}


@pytest.mark.parametrize("name", [t.name for t in TEMPLATES])
def test_template_starts(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = yaml.safe_load(template_text(name))
    for listener in config["listeners"]:
        listener["port"] = free_port()
    for provider in config["model_providers"]:
        provider["base_url"] = CLOSED
    for agent in config.get("agents") or []:
        agent["url"] = f"{CLOSED}/{agent['id']}"
    if "state" in config:  # its own keys on the shared Redis
        config["state"]["key_prefix"] = f"plano-init-{os.getpid()}"
    p = start_plano(config, tmp_path)
    try:
        headers = {"authorization": f"Bearer {ENV['APP_KEY']}"}
        assert httpx.get(f"{p.url}/healthz", timeout=5).status_code == 200
        models = httpx.get(f"{p.url}/v1/models", headers=headers, timeout=5)
        assert models.status_code == 200, models.text
    finally:
        code = p.stop()
    assert code == 0, p.output()
    assert "Traceback" not in p.output()
