"""plano.rego: regorus behind Program. These tests are the suite an engine swap must pass:
compile errors with their file and line, the decision tree, run-time errors raised (never a
silently undefined deny), the static checks, thread affinity."""

from __future__ import annotations

import threading

import orjson
import pytest

from plano.rego import DECISION_RULES, Module, Program, RegoError, check_program, sample_input
from plano.rego.engine import rego_error

POLICY = """package plano.demo

deny contains msg if {
	input.principal.team == "contractors"
	msg := sprintf("contractors may not use %s", [input.request.model])
}

route := "openai/gpt-4o-mini" if input.principal.team == "interns"

cap_max_tokens := 256 if input.request.max_tokens > 256

strip_tools contains name if {
	some name in input.tools
	startswith(name, "db_")
}

helper(x) := x + 1
"""


def doc(**changes: object) -> bytes:
    d = sample_input()
    for key, value in changes.items():
        d[key] = value
    return orjson.dumps(d)


def test_evaluate_returns_every_decision_package() -> None:
    p = Program([Module("demo.rego", POLICY), Module("lib.rego", "package lib\nx := 1\n")])
    assert p.packages == ("plano.demo", "lib")
    assert p.decision_paths == (("demo",),)
    tree = p.evaluate(doc(principal={"team": "interns"}))
    [(package, values)] = p.decisions(tree)
    assert package == "plano.demo"
    assert values["route"] == "openai/gpt-4o-mini"
    assert values["cap_max_tokens"] == 256
    assert values["strip_tools"] == ["db_read", "db_write"]  # sets come back sorted lists
    assert values["deny"] == []


def test_the_same_engine_gives_each_input_its_own_answer() -> None:
    p = Program([Module("demo.rego", POLICY)])
    denied = p.decisions(p.evaluate(doc(principal={"team": "contractors"})))[0][1]
    assert denied["deny"] == ["contractors may not use gpt-4o-mini"]
    allowed = p.decisions(p.evaluate(doc(principal={"team": "support"})))[0][1]
    assert allowed["deny"] == [] and "route" not in allowed


def test_the_root_package_and_nested_packages_are_decision_packages() -> None:
    p = Program(
        [
            Module("root.rego", 'package plano\ndeny contains "root"\n'),
            Module("deep.rego", 'package plano.a.b\ndeny contains "deep"\n'),
        ]
    )
    found = dict(p.decisions(p.evaluate(doc())))
    assert found["plano"]["deny"] == ["root"]
    assert found["plano.a.b"]["deny"] == ["deep"]


def test_syntax_error_carries_file_line_and_column() -> None:
    bad = "package plano.x\n\ndeny contains msg if {\n  input.x = = 1\n}\n"
    with pytest.raises(RegoError) as info:
        Program([Module("policies/x.rego", "package plano.ok\n"), Module("policies/bad.rego", bad)])
    err = info.value
    assert (err.file, err.line, err.column) == ("policies/bad.rego", 4, 13)
    assert err.kind == "static"
    assert str(err) == "policies/bad.rego:4:13: expecting expression"
    assert "Stack backtrace" not in str(err) and "\n" not in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("helper := 1 / input.zero", "divide by zero"),
        ("helper := input.text + 1", "expects numeric argument"),
        ('route := "a" if input.x\nroute := "b" if input.x', "rule conflicts"),
    ],
)
def test_run_time_errors_raise_with_their_position(body: str, message: str) -> None:
    p = Program([Module("p.rego", f"package plano.p\n{body}\n")])
    with pytest.raises(RegoError) as info:
        p.evaluate(orjson.dumps({"zero": 0, "text": "s", "x": True}))
    assert message in info.value.message
    assert info.value.file == "p.rego" and info.value.line is not None
    assert info.value.kind == "runtime"


def test_a_failing_builtin_in_a_deny_rule_raises_instead_of_leaving_it_undefined() -> None:
    p = Program(
        [Module("p.rego", 'package plano.p\ndeny contains "x" if to_number(input.n) > 1\n')]
    )
    with pytest.raises(RegoError, match="could not parse"):
        p.evaluate(orjson.dumps({"n": "many"}))


def test_check_finds_unknown_functions_on_paths_the_sample_does_not_reach() -> None:
    text = 'package plano.p\n\ndeny contains "x" if {\n\tinput.phase == "never"\n\tnofunc(1)\n}\n'
    p = Program([Module("p.rego", text)])
    assert p.evaluate(orjson.dumps(sample_input())) == {"p": {"deny": []}}
    [err] = check_program(p, [sample_input()])
    assert err.kind == "static" and "nofunc" in err.message
    assert (err.file, err.line) == ("p.rego", 5)


def test_check_finds_unsafe_variables() -> None:
    p = Program([Module("p.rego", 'package plano.p\ndeny contains "x" if { y == 2 }\n')])
    [err] = check_program(p, [sample_input()])
    assert err.kind == "static" and "unsafe" in err.message and err.line == 2


def test_check_passes_a_good_policy_with_builtins_the_vm_lacks() -> None:
    text = 'package plano.p\ndeny contains "x" if { print("checking"); input.phase == "no" }\n'
    p = Program([Module("p.rego", text)])
    assert check_program(p, [sample_input(), sample_input("response")]) == []


def test_rules_lists_names_lines_and_functions() -> None:
    p = Program([Module("demo.rego", POLICY)])
    by_name = {r.name: r for r in p.rules}
    assert by_name["deny"].line == 3 and not by_name["deny"].function
    assert by_name["helper"].function
    assert by_name["route"].path == "data.plano.demo.route"
    assert set(DECISION_RULES) >= {"deny", "route", "cap_max_tokens", "strip_tools"}


def test_sets_of_objects_come_back() -> None:
    text = 'package plano.p\nredact contains {"pattern": "a", "roles": ["user"]}\n'
    p = Program([Module("p.rego", text)])
    assert p.evaluate(b"{}") == {"p": {"redact": [{"pattern": "a", "roles": ["user"]}]}}


def test_eval_rule_tells_undefined_from_false() -> None:
    p = Program([Module("t.rego", "package t\ntest_yes if true\ntest_no if { 1 == 2 }\n")])
    assert p.eval_rule("data.t.test_yes") == (True, True)
    assert p.eval_rule("data.t.test_no") == (False, None)


def test_a_program_refuses_another_thread() -> None:
    p = Program([Module("p.rego", "package plano.p\n")])
    seen: list[str] = []

    def use() -> None:
        try:
            p.evaluate(b"{}")
        except RuntimeError as exc:
            seen.append(str(exc))  # not the exception: its frames would hold p in a cycle

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert seen and "another thread" in seen[0]


def test_rego_error_without_a_position() -> None:
    err = rego_error(RuntimeError("Failed to parse datetime\n\nStack backtrace:\n 0: x"))
    assert str(err) == "Failed to parse datetime" and err.file is None
