"""The admin commands' TLS plumbing: https from the config, --cacert / --cert / --key into
a context, bad files as one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.certs import issue, make_ca

from plano.admin_cli import AdminError, gateway_target, tls_context


def _args(**over: Any) -> argparse.Namespace:
    base = {"url": None, "admin_key": None, "config": None, "cacert": None, "cert": None}
    return argparse.Namespace(**{**base, "key": None, **over})


def _config(tmp_path: Path, **gateway: Any) -> Path:
    ca = make_ca(tmp_path / "ca")
    cert = issue(ca, tmp_path, "gw")
    tls = {"cert_file": str(cert.cert), "key_file": str(cert.key)}
    raw = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12400, "tls": tls}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k", "default": True}],
        "gateway": gateway,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_https_when_the_listener_has_tls(tmp_path: Path) -> None:
    path = _config(tmp_path)
    assert gateway_target(_args(config=str(path)))[0] == "https://127.0.0.1:12400"
    # The admin listener inherits the model listener's TLS.
    path = _config(tmp_path, admin_port=12401)
    assert gateway_target(_args(config=str(path)))[0] == "https://127.0.0.1:12401"


def test_flags_build_a_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANO_CACERT", raising=False)
    assert tls_context(_args()) is None
    ca = make_ca(tmp_path / "ca")
    client = issue(ca, tmp_path, "op", client=True)
    ctx = tls_context(_args(cacert=str(ca.cert), cert=str(client.cert), key=str(client.key)))
    assert ctx is not None and ctx.get_ca_certs()[0]["subject"][0][0][1] == "Plano Test CA"
    monkeypatch.setenv("PLANO_CACERT", str(ca.cert))
    assert tls_context(_args()) is not None


def test_a_bad_file_is_an_admin_error(tmp_path: Path) -> None:
    with pytest.raises(AdminError, match="does not exist"):
        tls_context(_args(cacert=str(tmp_path / "nope.pem")))
