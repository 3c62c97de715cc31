"""Listener specs carry TLS: model, agent and admin listeners; https URLs; mutual when a
client CA is set."""

from __future__ import annotations

from pathlib import Path

from tests.certs import issue, make_ca

from plano.config import check_config
from plano.server.listeners import plan_listeners


def test_every_listener_kind_gets_its_tls(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    cert = issue(ca, tmp_path, "gw")
    tls = {"cert_file": str(cert.cert), "key_file": str(cert.key)}
    mutual = {**tls, "client_ca_file": str(ca.cert)}
    raw = {
        "version": "v0.4.0",
        "listeners": [
            {"type": "model", "name": "llm", "port": 12000, "tls": tls},
            {
                "type": "agent",
                "name": "agents",
                "port": 8001,
                "tls": mutual,
                "agents": [{"id": "helper", "description": "helps", "default": True}],
            },
        ],
        "agents": [{"id": "helper", "url": "http://127.0.0.1:10510"}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k", "default": True}],
        "gateway": {"admin_port": 12001},
    }
    config, issues = check_config(raw, {}, tmp_path)
    assert config is not None, issues
    specs = {s.name: s for s in plan_listeners(config)}
    assert specs["llm"].tls and not specs["llm"].mutual
    assert specs["llm"].url == "https://127.0.0.1:12000"
    if "agents" in specs:  # agent listeners are served (the agents work)
        assert specs["agents"].tls and specs["agents"].mutual
    # The admin listener inherits the model listener's certificate (no client CA).
    assert specs["admin"].tls and not specs["admin"].mutual
    assert config.tls_material is not None
    assert config.tls_material.listeners["agents"].mutual
