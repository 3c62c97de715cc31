"""The laptop stack is not a network service: its passwords are well known (Grafana
admin/admin, a default admin key) and its model API has no auth, so every port is published
on the host's loopback only, and the gateway answers only to the names the stack uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plano.server.edge import HostPolicy

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_published_port_is_on_loopback(compose: dict[str, Any]) -> None:
    published = [
        (name, str(port))
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "the stack publishes its ports"
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_the_gateway_refuses_other_host_names() -> None:
    config = yaml.safe_load((COMPOSE / "config.yaml").read_text())
    g = config["gateway"]
    policy = HostPolicy.build("0.0.0.0", g["allowed_hosts"], (), g["admin_key"])
    for host in ("localhost:12000", "127.0.0.1:12001", "plano:9464", "[::1]:12000"):
        assert policy.host_allowed(host), host  # the browser, the healthcheck, Prometheus
    assert not policy.host_allowed("rebind.attacker.example:12001")
