"""The TLS keys: checked by building their contexts, with issues at the YAML path; the
contexts attached to the config for the runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.certs import Issued, issue, make_ca

from plano.config import check_config
from plano.config.tls_checks import ADMIN_LISTENER


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Issued]:
    ca = make_ca(tmp_path / "ca")
    return {"ca": ca, "a": issue(ca, tmp_path, "a"), "b": issue(ca, tmp_path, "b")}


def _config(**extra: Any) -> dict[str, Any]:
    listener: dict[str, Any] = {"type": "model", "name": "llm", "port": 12000}
    listener.update(extra.pop("listener", {}))
    return {
        "version": "v0.4.0",
        "listeners": [listener],
        "model_providers": extra.pop(
            "providers", [{"model": "openai/gpt-4o", "access_key": "k", "default": True}]
        ),
        **extra,
    }


def test_listener_tls_builds_contexts_relative_to_the_config(
    files: dict[str, Issued], tmp_path: Path
) -> None:
    data = _config(
        listener={"tls": {"cert_file": "a.crt", "key_file": "a.key"}},
        gateway={"admin_port": 12001},
    )
    config, issues = check_config(data, {}, tmp_path)
    assert config is not None, issues
    material = config.tls_material
    assert material is not None
    # The admin listener inherits the model listener's certificate.
    assert set(material.listeners) == {"llm", ADMIN_LISTENER}
    assert material.listeners["llm"].fingerprint == material.listeners[ADMIN_LISTENER].fingerprint


def test_admin_tls_with_client_ca_is_mutual(files: dict[str, Issued], tmp_path: Path) -> None:
    admin = {"cert_file": "b.crt", "key_file": "b.key", "client_ca_file": str(files["ca"].cert)}
    data = _config(gateway={"admin_port": 12001, "admin_tls": admin})
    config, issues = check_config(data, {}, tmp_path)
    assert config is not None and config.tls_material is not None, issues
    assert config.tls_material.listeners[ADMIN_LISTENER].mutual
    assert "llm" not in config.tls_material.listeners


def test_bad_files_are_issues_at_their_path(files: dict[str, Issued], tmp_path: Path) -> None:
    data = _config(
        listener={"tls": {"cert_file": "a.crt", "key_file": "b.key"}},
        gateway={"admin_port": 12001, "admin_tls": {"cert_file": "x.crt", "key_file": "a.key"}},
    )
    config, issues = check_config(data, {}, tmp_path)
    assert config is None
    found = {i.path: i.message for i in issues if i.severity == "error"}
    assert "key does not match the certificate" in found["listeners[0].tls"]
    assert "x.crt does not exist" in found["gateway.admin_tls"]


def test_upstream_tls_by_origin(files: dict[str, Issued], tmp_path: Path) -> None:
    tls = {"ca_file": "ca/plano-test-ca.crt", "cert_file": "a.crt", "key_file": "a.key"}
    providers = [
        {"model": "vllm/m1", "base_url": "https://models.internal:8443/v1", "tls": tls},
        {"model": "vllm/m2", "base_url": "https://models.internal:8443/v1", "tls": tls},
        {"model": "openai/gpt-4o", "access_key": "k", "default": True},
    ]
    config, issues = check_config(_config(providers=providers), {}, tmp_path)
    assert config is not None and config.tls_material is not None, issues
    assert list(config.tls_material.upstream) == ["https://models.internal:8443"]


def test_upstream_tls_conflicts_and_plain_http(files: dict[str, Issued], tmp_path: Path) -> None:
    a = {"ca_file": "ca/plano-test-ca.crt"}
    b = {"ca_file": "ca/plano-test-ca.crt", "cert_file": "b.crt", "key_file": "b.key"}
    providers = [
        {"model": "vllm/m1", "base_url": "https://models.internal/v1", "tls": a, "default": True},
        {"model": "vllm/m2", "base_url": "https://models.internal/v1", "tls": b},
        {"model": "ollama/m3", "base_url": "http://127.0.0.1:11434", "tls": a},
    ]
    _, issues = check_config(_config(providers=providers), {}, tmp_path)
    found = {(i.path, i.severity): i.message for i in issues}
    assert "one origin takes one tls setting" in found[("model_providers[1].tls", "error")]
    assert "https only" in found[("model_providers[2].tls", "warning")]


def test_cert_without_key_is_a_structural_error(tmp_path: Path) -> None:
    providers = [
        {
            "model": "vllm/m",
            "base_url": "https://h/v1",
            "default": True,
            "tls": {"cert_file": "a.crt"},
        }
    ]
    config, issues = check_config(_config(providers=providers), {}, tmp_path)
    assert config is None
    assert any("cert_file and key_file go together" in i.message for i in issues)
