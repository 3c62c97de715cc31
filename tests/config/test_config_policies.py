"""policies: and tool_rules: in the config: files and globs read relative to the config file,
compile errors reported with their file and line, tests kept apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plano.config import check_config, check_config_file
from plano.config.policy_checks import loaded_policies

GOOD = 'package plano.good\n\ndeny contains "no" if input.principal.team == "x"\n'
BAD = "package plano.bad\n\ndeny contains msg if {\n  input.x = = 1\n}\n"


def write(folder: Path, files: dict[str, str], config: dict[str, Any]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def messages(issues: list[Any], severity: str = "error") -> list[str]:
    return [str(i) for i in issues if i.severity == severity]


def test_files_are_read_relative_to_the_config_file(tmp_path: Path, base: dict[str, Any]) -> None:
    path = write(
        tmp_path,
        {"policies/good.rego": GOOD, "policies/good_test.rego": "package plano.good_test\n"},
        {**base, "policies": [{"path": "policies/*.rego"}]},
    )
    config, issues = check_config_file(path, {})
    assert config is not None, issues
    [loaded] = config.loaded_policies or ()
    assert [m.file for m in loaded.modules] == ["policies/good.rego"]
    assert [m.file for m in loaded.tests] == ["policies/good_test.rego"]
    assert loaded.files == (tmp_path / "policies" / "good.rego",)
    assert loaded.name == "policies/*.rego"


def test_a_compile_error_names_its_file_and_line(tmp_path: Path, base: dict[str, Any]) -> None:
    path = write(
        tmp_path,
        {"policies/good.rego": GOOD, "policies/bad.rego": BAD},
        {**base, "policies": [{"path": "policies/*.rego"}]},
    )
    config, issues = check_config_file(path, {})
    assert config is None
    assert messages(issues) == ["policies[0].path: policies/bad.rego:4:13: expecting expression"]


def test_an_inline_error_names_the_line_of_the_module(base: dict[str, Any]) -> None:
    text = "package plano.x\n\ndeny contains m if {\n  m := nofunc(1)\n}\n"
    config, issues = check_config({**base, "policies": [{"name": "x", "rego": text}]}, {})
    assert config is None
    [issue] = [i for i in issues if i.severity == "error"]
    assert issue.path == "policies[0].rego"
    assert issue.message.startswith("line 4, column ") and "nofunc" in issue.message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"path": "nowhere/*.rego"}, "matches no policy file"),
        ({"path": "missing.rego"}, "matches no file"),
        ({"rego": "package plano.x\n"}, "needs a 'name'"),
        ({"path": "a.rego", "rego": "package plano.x\n"}, "either 'path'"),
        ({"name": "x"}, "either 'path'"),
        ({"name": "x", "rego": "package plano.x\n", "phases": []}, "at least 1"),
        ({"name": "x", "rego": "package plano.x\n", "on_error": "maybe"}, "open"),
    ],
)
def test_entry_errors(
    tmp_path: Path, base: dict[str, Any], entry: dict[str, Any], expected: str
) -> None:
    config, issues = check_config({**base, "policies": [entry]}, {}, tmp_path)
    assert config is None
    assert any(expected in str(i) for i in issues), issues


def test_two_policies_may_not_share_a_package(base: dict[str, Any]) -> None:
    entries = [{"name": "a", "rego": GOOD}, {"name": "b", "rego": GOOD}]
    config, issues = check_config({**base, "policies": entries}, {})
    assert config is None
    assert messages(issues) == [
        "policies[1]: package 'plano.good' is also defined by policies[0]; "
        "give each policy its own packages"
    ]


def test_warnings_no_decision_package_and_a_sample_that_fails(base: dict[str, Any]) -> None:
    entries = [
        {"name": "lib", "rego": "package lib\nx := 1\n"},
        {
            "name": "div",
            "rego": "package plano.div\nn := 10 / input.request.message_count\n"
            'cap_max_tokens := 1 / 0 if input.phase == "response"\n',
        },
    ]
    config, issues = check_config({**base, "policies": entries}, {})
    assert config is not None, issues
    warnings = messages(issues, "warning")
    assert any("policies[0]: defines no package under 'plano'" in w for w in warnings)
    assert any(
        "fails on the sample input document" in w and "divide by zero" in w for w in warnings
    )


def test_a_config_built_without_checks_loads_its_policies_when_asked(base: dict[str, Any]) -> None:
    from plano.config.schema import PlanoConfig

    config = PlanoConfig.model_validate({**base, "policies": [{"name": "g", "rego": GOOD}]})
    assert config.loaded_policies is None
    [loaded] = loaded_policies(config)
    assert loaded.modules[0].file == "policies[0].rego"
    broken = PlanoConfig.model_validate({**base, "policies": [{"name": "b", "rego": BAD}]})
    from plano.errors import ConfigError

    with pytest.raises(ConfigError, match="expecting expression"):
        loaded_policies(broken)


def test_tool_rules_validate(base: dict[str, Any]) -> None:
    rules = [{"match": {"team": "x", "key": ["a", "b"]}, "deny": ["db_*"], "apply_to": "called"}]
    config, issues = check_config({**base, "tool_rules": rules}, {})
    assert config is not None, issues
    assert config.tool_rules[0].match.team == ["x"]
    config, issues = check_config({**base, "tool_rules": [{"deny": ["a"], "action": "drop"}]}, {})
    assert config is None
