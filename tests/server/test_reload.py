"""The reload verdict (what a running process can and cannot change) and the file watch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from plano.config import PlanoConfig, check_config
from plano.server.listeners import plan_listeners
from plano.server.reload import ConfigWatch, check_reload, listener_changes


def raw(**gateway: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "gateway": gateway,
    }


def load(data: dict[str, Any]) -> PlanoConfig:
    config, issues = check_config(data, {})
    assert config is not None, issues
    return config


def check(tmp_path: Path, old: dict[str, Any], new: dict[str, Any], **overrides: Any) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(new))
    config = load(old)
    return check_reload(path, {}, plan_listeners(config, **overrides), config, **overrides)


def test_a_valid_change_passes(tmp_path: Path) -> None:
    new = raw()
    new["model_aliases"] = {"fast": {"target": "openai/gpt-4o-mini"}}
    verdict = check(tmp_path, raw(), new)
    assert verdict.ok and verdict.config is not None
    assert verdict.config.model_aliases["fast"].target == "openai/gpt-4o-mini"
    assert verdict.log_verdict("generation 1")


def test_listener_moves_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    moved = raw()
    moved["listeners"][0]["address"] = "0.0.0.0"
    verdict = check(tmp_path, raw(), moved)
    assert not verdict.ok
    assert verdict.problems() == [
        "model listener 'llm' on 127.0.0.1:12000 would move to model 0.0.0.0:12000: "
        "listener addresses and ports change only on restart"
    ]
    assert not check(tmp_path, raw(), raw(admin_port=12001)).ok  # a listener would be added
    assert not check(tmp_path, raw(admin_port=12001), raw()).ok  # ... or removed


def test_a_command_line_override_wins_over_the_file(tmp_path: Path) -> None:
    moved = raw()
    moved["listeners"][0]["port"] = 12345
    assert check(tmp_path, raw(), moved, port=13000).ok  # `plano up --port 13000` still holds


def test_restart_only_settings_are_noted_not_refused(tmp_path: Path) -> None:
    verdict = check(tmp_path, raw(), raw(workers=4, drain_timeout="5s"))
    assert verdict.ok
    assert verdict.notes == (
        "gateway.workers changed (1 -> 4); it takes effect on restart",
        "gateway.drain_timeout changed (30.0 -> 5.0); it takes effect on restart",
    )


def test_an_invalid_file_is_refused_with_its_issues(tmp_path: Path) -> None:
    bad = raw()
    bad["model_providers"][0]["defualt"] = True
    verdict = check(tmp_path, raw(), bad)
    assert not verdict.ok and verdict.config is None
    assert any("defualt" in p and "did you mean 'default'" in p for p in verdict.problems())
    missing = check_reload(tmp_path / "nope.yaml", {}, (), load(raw()))
    assert not missing.ok and "not found" in missing.problems()[0]


def test_listener_changes_are_by_name() -> None:
    old = plan_listeners(load(raw()))
    assert listener_changes(old, old) == []


def test_the_watch_fires_once_per_change_of_content(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    watch = ConfigWatch(path)
    assert not watch.changed()
    os.utime(path, ns=(1, 1))  # touched, same content
    assert not watch.changed()
    path.write_text("a: 2\n")
    assert watch.changed()
    assert not watch.changed()
    replaced = tmp_path / "new.yaml"  # an editor's atomic save: a new inode
    replaced.write_text("a: 3\n")
    replaced.replace(path)
    assert watch.changed()
    path.unlink()
    assert not watch.changed()  # gone for a moment: wait for it
    path.write_text("a: 3\n")
    assert not watch.changed()  # back with the content already seen
