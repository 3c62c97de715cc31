"""``plano policy test``: each policy's own Rego tests and its table of sample inputs.

* **Rego tests**: every ``test_*`` rule in the policy's ``*_test.rego`` files (and in the
  policy itself), evaluated as Open Policy Agent's ``opa test`` does: a test passes when it
  is defined and not ``false``; tests set their input with ``with input as {...}``.
* **Case tables**: beside a policy file ``x.rego``, ``x.cases.yaml`` lists sample inputs
  and the decisions expected from that file's packages::

      cases:
        - name: the support agent may not call db_write
          phase: response              # request (default) or response
          input:                       # merged over plano's sample input document
            agent: support
            tool_calls: [{name: db_write, arguments: {sql: "DROP TABLE t"}}]
          expect:
            strip_tool_calls: [db_write]
            deny: false                # true, false, or text the message contains

  ``expect`` may name ``deny``, ``route``, ``cap_max_tokens``, ``strip_tools``,
  ``strip_tool_calls`` and ``redact`` (how many redactions); a key left out is not checked.
  The decisions are read by the same code the gateway uses (:mod:`plano.policy.decisions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from rich.markup import escape

from plano.config import ConfigIssue, check_config, parse_yaml
from plano.config.policies import LoadedPolicy
from plano.policy.decisions import DecisionError, Verdict, parse_verdict
from plano.rego import Program, RegoError, sample_input

__all__ = ["CASES_SUFFIX", "TestResult", "load_policies_of", "render", "run_tests"]

#: A case table's name beside its policy: ``x.rego`` -> ``x.cases.yaml``.
CASES_SUFFIX = ".cases.yaml"
_EXPECTABLE = ("deny", "route", "cap_max_tokens", "strip_tools", "strip_tool_calls", "redact")


@dataclass(frozen=True, slots=True)
class TestResult:
    policy: str
    kind: Literal["rego", "case", "load"]
    name: str
    passed: bool
    detail: str = ""


def load_policies_of(path: Path) -> tuple[tuple[LoadedPolicy, ...], list[ConfigIssue]]:
    """The ``policies:`` of the config file at ``path``, read and checked as ``plano
    validate`` does, without the rest of the config (no provider key needs to be set)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return (), [ConfigIssue("", f"cannot read {path}: {exc}")]
    data, issues = parse_yaml(text)
    if not isinstance(data, dict):
        return (), issues or [ConfigIssue("", "the config is not a mapping")]
    only = {"version": data.get("version", "v0.4.0"), "policies": data.get("policies") or []}
    config, more = check_config(only, {}, path.parent)
    errors = [i for i in [*issues, *more] if i.severity == "error"]
    if config is None or errors:
        return (), errors
    return config.loaded_policies or (), []


def run_tests(loaded: Sequence[LoadedPolicy]) -> list[TestResult]:
    """Every policy's Rego tests, then its case tables."""
    results: list[TestResult] = []
    for policy in loaded:
        results += _rego_tests(policy)
        for file in policy.files:
            results += _case_table(policy, file)
    return results


def _rego_tests(policy: LoadedPolicy) -> list[TestResult]:
    try:
        program = Program([*policy.modules, *policy.tests])
    except RegoError as err:
        return [TestResult(policy.name, "load", "tests compile", False, str(err))]
    paths = dict.fromkeys(
        r.path for r in program.rules if r.name.startswith("test_") and not r.function
    )
    results: list[TestResult] = []
    for path in paths:
        name = path.removeprefix("data.")
        try:
            defined, value = program.eval_rule(path, {})
        except RegoError as err:
            results.append(TestResult(policy.name, "rego", name, False, str(err)))
            continue
        passed = defined and value is not False
        detail = "" if passed else ("undefined" if not defined else "false")
        results.append(TestResult(policy.name, "rego", name, passed, detail))
    return results


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base


def _case_table(policy: LoadedPolicy, file: Path) -> list[TestResult]:
    table = file.with_name(file.stem + CASES_SUFFIX)
    if not table.is_file():
        return []
    label = table.name
    try:
        data = yaml.safe_load(table.read_text(encoding="utf-8")) or {}
        cases = data.get("cases") if isinstance(data, dict) else None
        if not isinstance(cases, list):
            raise ValueError("expected a mapping with a 'cases' list")
        program = Program(policy.modules)
    except (OSError, ValueError, yaml.YAMLError, RegoError) as exc:
        return [TestResult(policy.name, "load", label, False, str(exc))]
    own = {p for f, p in program.module_packages.items() if Path(f).name == file.name}
    return [_case(policy.name, label, program, own, i, c) for i, c in enumerate(cases)]


def _case(
    policy: str, label: str, program: Program, own: set[str], index: int, case: Any
) -> TestResult:
    if not isinstance(case, Mapping):
        return TestResult(policy, "case", f"{label}[{index}]", False, "a case is a mapping")
    name = f"{label}: {case.get('name') or index}"
    phase = case.get("phase", "request")
    if phase not in ("request", "response"):
        return TestResult(policy, "case", name, False, f"unknown phase {phase!r}")
    doc = _merge(sample_input(phase), case.get("input") or {})
    try:
        tree = program.evaluate(orjson.dumps(doc))
        packages = [(p, v) for p, v in program.decisions(tree) if p in own]
        verdict = parse_verdict(policy, packages)
    except (RegoError, DecisionError) as err:
        return TestResult(policy, "case", name, False, f"evaluation failed: {err}")
    expect = case.get("expect") or {}
    unknown = sorted(set(expect) - set(_EXPECTABLE))
    if unknown:
        return TestResult(policy, "case", name, False, f"unknown expectation(s): {unknown}")
    problems = [
        p for key in _EXPECTABLE if key in expect for p in _check(key, expect[key], verdict)
    ]
    return TestResult(policy, "case", name, not problems, "; ".join(problems))


def _check(key: str, want: Any, v: Verdict) -> list[str]:
    got: Any
    if key == "deny":
        messages = [m for _, m in v.denies]
        if isinstance(want, str):
            ok = any(want in m for m in messages)
        else:
            ok = bool(messages) == bool(want)
        return [] if ok else [f"deny: expected {want!r}, got {messages or False!r}"]
    if key == "route":
        got = v.route[1] if v.route else None
    elif key == "cap_max_tokens":
        got = v.cap[1] if v.cap else None
    elif key == "strip_tools":
        got, want = sorted(v.strip_tools), sorted(want or [])
    elif key == "strip_tool_calls":
        got, want = sorted(v.strip_tool_calls), sorted(want or [])
    else:
        got = len(v.redactions)
    return [] if got == want else [f"{key}: expected {want!r}, got {got!r}"]


def render(results: Sequence[TestResult]) -> list[str]:
    """The report's lines, with rich markup (green passes, red failures, a summary)."""
    lines = []
    for r in results:
        mark = "[green]✓ pass[/]" if r.passed else "[red]✗ FAIL[/]"
        detail = f" [dim]({escape(r.detail)})[/]" if r.detail and not r.passed else ""
        lines.append(f"{mark} [bold]{escape(r.policy)}[/] {r.kind}: {escape(r.name)}{detail}")
    failed = sum(not r.passed for r in results)
    passed = len(results) - failed
    colour = "red" if failed else "green"
    lines.append(f"[{colour}]{passed} passed, {failed} failed[/]")
    return lines
