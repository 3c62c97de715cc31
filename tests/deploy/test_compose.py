"""deploy/compose: the laptop stack's structure (no docker engine here to run it): the YAML
parses, every file a service mounts or builds from exists, references between services
hold, Prometheus scrapes the gateway's metrics port, and the gateway's config is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from plano.config import check_config

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"
DASHBOARD = COMPOSE.parent / "grafana" / "plano.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out.append(((COMPOSE / source).resolve(), target))
    return out


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"plano", "redis", "postgres", "otel-collector", "prometheus", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
    named = set(compose.get("volumes") or {})
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, source


def test_every_mounted_or_built_file_exists(compose: dict[str, Any]) -> None:
    build = compose["services"]["plano"]["build"]
    context = (COMPOSE / build["context"]).resolve()
    assert (context / build["dockerfile"]).is_file()
    for name, service in compose["services"].items():
        for source, _target in _bind_mounts(service):
            if source == DASHBOARD:
                continue  # test_grafana_dashboard_is_provisioned
            assert source.exists(), f"{name} mounts {source}, which does not exist"


def test_grafana_dashboard_is_provisioned(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(_bind_mounts(grafana))
    target = mounts[DASHBOARD]
    provider = yaml.safe_load((COMPOSE / "grafana/provisioning/dashboards/plano.yaml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert target.startswith(folder + "/")
    datasource = yaml.safe_load(
        (COMPOSE / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert urlsplit(datasource["datasources"][0]["url"]).hostname in compose["services"]
    if not DASHBOARD.exists():
        pytest.skip(f"{DASHBOARD} is not written yet (the dashboard's own work)")
    import json

    assert json.loads(DASHBOARD.read_text()).get("panels")


def _gateway_config(compose: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "config.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_prometheus_scrapes_the_gateway_metrics_port(compose: dict[str, Any]) -> None:
    metrics = _gateway_config(compose)["metrics"]
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "plano")
    assert job["static_configs"][0]["targets"] == [f"plano:{metrics['port']}"]
    assert job.get("metrics_path", "/metrics") == metrics.get("path", "/metrics")
    assert metrics["address"] == "0.0.0.0"  # reachable from the prometheus container


def test_the_gateway_config_is_valid_and_wired_to_the_stack(compose: dict[str, Any]) -> None:
    plano = compose["services"]["plano"]
    env = {k: str(v) for k, v in plano["environment"].items()}
    env = {k: v.split(":-", 1)[1].rstrip("}") if v.startswith("${") else v for k, v in env.items()}
    data = _gateway_config(compose)
    config, issues = check_config(data, env, COMPOSE)
    assert config is not None, [str(i) for i in issues]
    services = compose["services"]
    for url in (
        config.state.redis,
        config.state.postgres,
        config.tracing and config.tracing.otlp_http_endpoint,
    ):
        assert url and urlsplit(str(url)).hostname in services, url
    # The mounted config is the one `plano up` reads, on the published ports.
    mounts = {target: source for source, target in _bind_mounts(plano)}
    assert mounts[plano["command"][1]] == (COMPOSE / "config.yaml").resolve()
    published = {p.split(":")[-1] for p in plano["ports"]}
    ports = {config.model_listener.port, config.gateway.admin_port, config.metrics.port}
    assert {str(p) for p in ports} <= published
    assert plano["environment"]["PLANO_HEALTH_URL"].endswith(
        f":{config.gateway.admin_port}/healthz"
    )
