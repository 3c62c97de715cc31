"""The ``metrics:`` section: defaults, checks with paths, and the metrics listener it plans."""

from __future__ import annotations

from typing import Any

from plano.config import check_config
from plano.server.listeners import plan_listeners


def raw(**metrics: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "address": "127.0.0.2"}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k", "default": True}],
        "gateway": {"admin_port": 12001},
        **({"metrics": metrics} if metrics else {}),
    }


def test_defaults_count_requests_and_open_no_port() -> None:
    config, issues = check_config(raw(), {})
    assert config is not None and not issues
    m = config.metrics
    assert (m.enabled, m.port, m.path, m.publish_interval) == (True, None, "/metrics", 1.0)
    assert [s.kind for s in plan_listeners(config)] == ["model", "admin"]


def test_the_metrics_listener_binds_loopback_unless_told() -> None:
    config, _ = check_config(raw(port=9464, publish_interval="250ms"), {})
    assert config is not None and config.metrics.publish_interval == 0.25
    spec = plan_listeners(config)[-1]
    assert (spec.name, spec.kind, spec.host, spec.port, spec.source) == (
        "metrics", "metrics", "127.0.0.1", 9464, "metrics.port",
    )  # fmt: skip


def test_a_public_model_listener_does_not_make_the_keyless_metrics_public() -> None:
    data = raw(port=9464)
    data["listeners"][0]["address"] = "0.0.0.0"
    config, _ = check_config(data, {})
    assert config is not None and plan_listeners(config)[-1].host == "127.0.0.1"
    config, _ = check_config(raw(port=9464, address="10.0.0.5"), {})
    assert config is not None and plan_listeners(config)[-1].host == "10.0.0.5"


def test_bad_values_are_reported_with_their_paths() -> None:
    cases = {
        "metrics.port": raw(port=12000),  # the model listener's
        "metrics.path": raw(path="/plano/metrics"),
        "metrics.publish_interval": raw(publish_interval="0s"),
    }
    for path, data in cases.items():
        _, issues = check_config(data, {})
        assert any(i.path == path for i in issues), (path, issues)
    _, issues = check_config(raw(colour="red"), {})
    assert [(i.path, i.message) for i in issues] == [("metrics", "unknown key 'colour'")]
    _, issues = check_config(raw(port=12001), {})
    assert [i.message for i in issues if i.path == "metrics.port"] == [
        "port 12001 is already used by gateway.admin_port"
    ]
