"""Where `plano keys` / `plano audit` send their calls: flags, then the environment, then the
config (admin listener, else the model listener; any-address binds reached on loopback)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from plano.admin_cli import AdminClient, AdminError, gateway_target
from plano.cli import build_parser


def args(**over: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"url": None, "admin_key": None, "config": None, **over})


def write(tmp_path: Path, gateway: dict[str, Any], address: str = "127.0.0.1") -> str:
    config = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12345, "address": address}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "gateway": gateway,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PLANO_URL", raising=False)
    monkeypatch.delenv("PLANO_ADMIN_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def test_flags_win(tmp_path: Path) -> None:
    path = write(tmp_path, {"admin_key": "from-config"})
    assert gateway_target(args(url="http://h:1", admin_key="k", config=path)) == ("http://h:1", "k")


def test_the_environment_then_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, {"admin_key": "from-config", "admin_port": 9999}, "0.0.0.0")
    assert gateway_target(args(config=path)) == ("http://127.0.0.1:9999", "from-config")
    monkeypatch.setenv("PLANO_ADMIN_KEY", "from-env")
    monkeypatch.setenv("PLANO_URL", "http://env:2")
    assert gateway_target(args(config=path)) == ("http://env:2", "from-env")


def test_the_model_listener_and_the_default(tmp_path: Path) -> None:
    assert gateway_target(args()) == ("http://127.0.0.1:12000", None)  # no config at all
    write(tmp_path, {})
    assert gateway_target(args()) == ("http://127.0.0.1:12345", None)  # ./config.yaml


def test_a_gateway_that_is_not_there_is_a_clear_error() -> None:
    with pytest.raises(AdminError, match="cannot reach the gateway"):
        AdminClient("http://127.0.0.1:9", None, timeout=2).call("GET", "/plano/v1/keys")


def test_the_parser_has_the_commands() -> None:
    parser = build_parser()
    parsed = parser.parse_args(
        ["keys", "create", "--model", "fast", "--model", "openai/*", "--expires-in", "30d"]
    )
    assert parsed.model == ["fast", "openai/*"] and parsed.keys_command == "create"
    parsed = parser.parse_args(["audit", "--action", "deny", "--json"])
    assert parsed.action == "deny" and parsed.json
