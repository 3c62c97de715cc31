"""Every Plano demo config starts with ``plano up`` (docs/compatibility.md).

Nothing is changed but what a laptop test needs: listener ports moved to free ones, every
upstream, agent and filter URL pointed at a closed port on 127.0.0.1 (nothing here talks to the
internet; start-up does not need the upstreams), keys set to dummies. Each demo must reach
ready, answer ``/healthz``, and stop cleanly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.conftest import free_port, start_plano

pytestmark = pytest.mark.e2e

DEMOS = Path(__file__).parents[1] / "fixtures" / "plano_demos"
FILES = sorted(DEMOS.glob("*.yaml"))
KEYS = sorted({v for f in FILES for v in re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", f.read_text())})
#: Nothing listens there: connections are refused at once.
CLOSED = "http://127.0.0.1:9"


def _offline(config: dict[str, Any]) -> dict[str, Any]:
    listeners = config.get("listeners")
    if isinstance(listeners, list):
        for listener in listeners:
            listener["port"] = free_port()
    elif isinstance(listeners, dict):  # Plano v0.1: egress_traffic / ingress_traffic
        for listener in listeners.values():
            listener["port"] = free_port()
    for key in ("model_providers", "llm_providers"):
        for provider in config.get(key) or []:
            provider["base_url"] = CLOSED
    for agent in config.get("agents") or []:
        agent["url"] = f"{CLOSED}/{agent['id']}"
    for f in config.get("filters") or []:
        f["url"] = f"{CLOSED}/filters/{f['id']}"
    if "tracing" in config:
        config["tracing"]["opentracing_grpc_endpoint"] = CLOSED
    return config


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_demo_starts(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.setenv(key, "dummy-key-0123456789")
    config = _offline(yaml.safe_load(path.read_text()))
    p = start_plano(config, tmp_path)
    try:
        assert httpx.get(f"{p.url}/healthz", timeout=5).status_code == 200
        models = httpx.get(f"{p.url}/v1/models", timeout=5)
        assert models.status_code == 200 and models.json()["data"]
        routing = httpx.get(f"{p.url}/plano/v1/routing", timeout=5).json()
        if path.stem == "routing_budget":  # the hosted catalogue: bundled prices instead
            (source,) = routing["metrics_sources"]
            assert source["origin"] == "bundled" and source["in_use"] is False
    finally:
        code = p.stop()
    out = p.output()
    assert code == 0, out
    assert "Traceback" not in out, out
    if path.stem == "openclaw_routing":  # the hosted router is never called: said once
        assert out.count("is vendor-hosted (needs the internet)") == 1, out
