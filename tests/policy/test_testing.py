"""plano policy test, in process: Rego tests (defined and not false), case tables, the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from plano.policy.testing import load_policies_of, render, run_tests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def test_the_examples_pass() -> None:
    loaded, errors = load_policies_of(EXAMPLES / "config.yaml")
    assert errors == [] and len(loaded) == 3
    results = run_tests(loaded)
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]
    kinds = {(r.policy, r.kind) for r in results}
    for name in ("support_tools.rego", "eu_models.rego", "tool_budget.rego"):
        assert (name, "rego") in kinds and (name, "case") in kinds


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    config = {"version": "v0.4.0", "policies": [{"path": "p.rego"}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "config.yaml"


def test_failing_undefined_and_erroring_tests(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "p.rego": 'package plano.p\ndeny contains "no" if input.x == 1\n',
            "p_test.rego": "package plano.p_test\n"
            "import data.plano.p\n"
            'test_denies if { p.deny == {"no"} with input as {"x": 1} }\n'
            "test_false := false\n"
            'test_undefined if { p.deny == {"no"} with input as {"x": 2} }\n'
            "test_error if { 1 / 0 }\n",
            "p.cases.yaml": yaml.safe_dump(
                {
                    "cases": [
                        {"name": "ok", "input": {"x": 1}, "expect": {"deny": "no"}},
                        {"name": "wrong", "input": {"x": 2}, "expect": {"deny": True}},
                        {"name": "typo", "expect": {"denied": True}},
                    ]
                }
            ),
        },
    )
    loaded, errors = load_policies_of(path)
    assert not errors
    by_name = {r.name.split(".")[-1] if r.kind == "rego" else r.name: r for r in run_tests(loaded)}
    assert by_name["test_denies"].passed
    assert by_name["test_false"].detail == "false" and not by_name["test_false"].passed
    assert by_name["test_undefined"].detail == "undefined"
    assert "divide by zero" in by_name["test_error"].detail
    assert by_name["p.cases.yaml: ok"].passed
    assert "deny: expected True, got False" in by_name["p.cases.yaml: wrong"].detail
    assert "unknown expectation" in by_name["p.cases.yaml: typo"].detail
    lines = render(list(by_name.values()))
    assert lines[-1] == "[red]2 passed, 5 failed[/]"
    assert any(line.startswith("[red]✗ FAIL[/]") for line in lines)


def test_a_config_with_errors_reports_them_without_needing_provider_keys(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    (tmp_path / "ex" / "eu_models.rego").write_text("package plano.eu_models\nroute := \n")
    loaded, errors = load_policies_of(tmp_path / "ex" / "config.yaml")
    assert loaded == () and "eu_models.rego:" in str(errors[0])
