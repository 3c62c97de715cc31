"""``plano init``: each template writes, validates once its variables are set, and explains
its keys; an existing file is kept without --force; Plano's template ids work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from plano.cli import main
from plano.config import check_config_file
from plano.init_cli import TEMPLATES, env_vars, template_text

#: Values for every variable the templates read (the state template's stores are the test
#: machine's Redis and PostgreSQL; nothing connects here).
ENV = {
    "OPENAI_API_KEY": "sk-test-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
    "APP_KEY": "pk-0123456789abcdef0123",
    "PLANO_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PLANO_PG_URL": "postgresql://postgres@127.0.0.1:5432/test",
}


@pytest.mark.parametrize("name", [t.name for t in TEMPLATES])
def test_each_template_validates(name: str, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    assert main(["init", "--template", name, "--output", str(target)]) == 0
    assert set(env_vars(target.read_text())) <= set(ENV)
    config, issues = check_config_file(target, ENV)
    assert config is not None, [str(i) for i in issues if i.severity == "error"]
    assert [str(i) for i in issues if i.severity in ("error", "warning", "unsupported")] == []


@pytest.mark.parametrize("name", [t.name for t in TEMPLATES])
def test_every_key_line_is_explained(name: str) -> None:
    """Each template starts with how to run it, and most keys carry a comment."""
    text = template_text(name)
    assert text.startswith("# Plano: ") and "plano validate" in text
    keys = [ln for ln in text.splitlines() if ":" in ln and not ln.lstrip().startswith("#")]
    commented = [ln for ln in keys if "#" in ln]
    assert len(commented) >= len(keys) // 3, name
    yaml.safe_load(text)


def test_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("mine\n")
    assert main(["init", "-t", "gateway", "-o", str(target)]) == 1
    assert target.read_text() == "mine\n"
    assert "pass --force" in capsys.readouterr().err
    assert main(["init", "-t", "gateway", "-o", str(target), "--force"]) == 0
    assert target.read_text() == template_text("gateway")


def test_plano_ids_list_and_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "deep" / "c.yaml"
    assert main(["init", "-t", "filter_chain_guardrails", "-o", str(target)]) == 0
    assert target.read_text() == template_text("guardrails")
    assert "next: set OPENAI_API_KEY, APP_KEY" in capsys.readouterr().out
    assert main(["init", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(t.name in listed for t in TEMPLATES) and "sub_agent_orchestration" in listed
    assert main(["init", "-t", "nope", "-o", str(tmp_path / "x.yaml")]) == 2
    assert "unknown template 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()
