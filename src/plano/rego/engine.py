"""regorus behind a small wrapper: compile modules once, evaluate many times.

:class:`Program` is one regorus engine over a list of modules. ``evaluate`` sets the input
(as JSON text: one serialization, parsed once on the Rust side) and evaluates
``data.plano`` in one query, so every decision rule of every decision package comes back
from a single evaluation (a 10-rule policy: ~45 us on one core). Results come back as JSON:
Rego sets are lists.

**Threads.** A regorus engine may be used (and dropped) only on the thread that built it
(pyo3 ``unsendable``; another thread panics). A :class:`Program` therefore refuses use from
another thread, and whoever evaluates on the event loop builds its programs there
(``plano.policy`` does so when its filter starts). One engine per worker process is enough:
an evaluation is synchronous, so requests on one event loop never share it at once; no
clone per evaluation is needed.

A Program must not end up in a reference cycle either: the garbage collector may free a
cycle on any thread. Whoever holds programs releases them on their thread when done
(:meth:`plano.policy.engine.PolicyEngine.release`), and stored errors drop their tracebacks.

**Errors.** regorus reports ``--> file:line:col`` and ``error: message`` (plus a Rust stack
trace when ``RUST_BACKTRACE`` is set, dropped here); :func:`rego_error` turns that into a
:class:`RegoError` with the position as fields. regorus raises on run-time errors (a type
error, division by zero, conflicting values of a complete rule) instead of leaving the rule
undefined, so a failing policy is always seen, never silently allowed.

**Static checks** (:func:`check_program`): parsing finds syntax errors; evaluating once over a
sample input finds unsafe variables and rule-analysis errors; compiling the decision rules for
regorus' VM finds calls to functions that do not exist on every path (the interpreter finds
those only when it reaches them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import orjson
import regorus

from plano.rego.schema import DECISION_ROOT, DECISION_RULES

__all__ = ["Module", "Program", "RegoError", "RuleInfo", "check_program", "rego_error"]

_POSITION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_MESSAGE = re.compile(r"^error:\s*(?P<msg>.+)$", re.M)
#: Messages of analysis errors: the policy is wrong whatever the input.
_STATIC = ("is unsafe", "could not find function", "Unknown function", "undefined")


class RegoError(Exception):
    """A compile or evaluation error; ``file``/``line``/``column`` when regorus gives them."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        kind: Literal["static", "runtime"] = "runtime",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        #: ``static``: wrong for every input (syntax, unsafe variable, unknown function).
        self.kind: Literal["static", "runtime"] = kind

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.file else self.message


def rego_error(exc: BaseException, *, static: bool = False) -> RegoError:
    """regorus' exception text as a :class:`RegoError` (no stack trace, position parsed)."""
    text = str(exc)
    for cut in ("\nStack backtrace:", "\nCaused by:"):
        text = text.split(cut, 1)[0]
    text = text.strip()
    found = _MESSAGE.search(text)
    message = found.group("msg").strip() if found else (text.splitlines() or ["error"])[-1]
    kind: Literal["static", "runtime"] = (
        "static" if static or any(s in message for s in _STATIC) else "runtime"
    )
    pos = _POSITION.search(text)
    if pos is None:
        return RegoError(message, kind=kind)
    return RegoError(message, pos["file"], int(pos["line"]), int(pos["col"]), kind)


@dataclass(frozen=True, slots=True)
class Module:
    """One Rego module: the name errors report it under (a file path) and its text."""

    file: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule as written: its package (``plano.support``), name, and where it starts."""

    package: str
    name: str
    file: str
    line: int
    function: bool

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


def _is_decision_package(package: str) -> bool:
    return package == DECISION_ROOT or package.startswith(DECISION_ROOT + ".")


class Program:
    """An engine over ``modules`` (parsed here; raises :class:`RegoError` on a syntax error)."""

    def __init__(self, modules: Sequence[Module]) -> None:
        self.modules = tuple(modules)
        self._thread = threading.get_ident()
        engine = regorus.Engine()
        #: Each module's package, without ``data.`` (``plano.support``).
        self.module_packages: dict[str, str] = {}
        for m in self.modules:
            try:
                package = engine.add_policy(m.file, m.text)
            except Exception as exc:  # regorus raises RuntimeError; nothing else is expected
                raise rego_error(exc, static=True) from None
            self.module_packages[m.file] = str(package).removeprefix("data.")
        self._engine = engine
        #: Every package, in load order.
        self.packages = tuple(dict.fromkeys(self.module_packages.values()))
        #: Decision packages as paths below ``data.plano`` (``()`` is ``plano`` itself).
        self.decision_paths: tuple[tuple[str, ...], ...] = tuple(
            tuple(p.split(".")[1:]) for p in self.packages if _is_decision_package(p)
        )

    def _here(self) -> Any:
        if threading.get_ident() != self._thread:
            raise RuntimeError("a regorus Program is used on another thread than its own")
        return self._engine

    def evaluate(self, input_json: str | bytes) -> dict[str, Any]:
        """``data.plano`` over the input (JSON text); ``{}`` when nothing is defined. Raises
        :class:`RegoError` when evaluation fails."""
        engine = self._here()
        text = input_json if isinstance(input_json, str) else input_json.decode()
        try:
            engine.set_input_json(text)
            # As JSON: regorus cannot hand Python a set of objects (dicts are unhashable), and
            # JSON costs no more than its own conversion. Sets come back as sorted lists.
            out = orjson.loads(engine.eval_query_as_json("data." + DECISION_ROOT))
        except Exception as exc:
            raise rego_error(exc) from None
        results = out.get("result") if isinstance(out, dict) else None
        if not results:
            return {}
        value = results[0]["expressions"][0]["value"]
        return value if isinstance(value, dict) else {}

    def decisions(self, tree: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
        """Each decision package's values in an ``evaluate`` result: ``(package, values)``."""
        out: list[tuple[str, Mapping[str, Any]]] = []
        for path in self.decision_paths:
            node: Any = tree
            for key in path:
                node = node.get(key) if isinstance(node, Mapping) else None
            if isinstance(node, Mapping):
                out.append((".".join((DECISION_ROOT, *path)), node))
        return out

    def eval_rule(self, path: str, input_doc: Any = None) -> tuple[bool, Any]:
        """One rule (``data.pkg.rule``) over ``input_doc``: ``(defined, value)``. For tests
        (``plano policy test``), not the request path."""
        engine = self._here()
        try:
            engine.set_input_json(orjson.dumps(input_doc).decode())
            out = orjson.loads(engine.eval_query_as_json(path))
        except Exception as exc:
            raise rego_error(exc) from None
        results = out.get("result") if isinstance(out, dict) else None
        if not results:
            return False, None
        return True, results[0]["expressions"][0]["value"]

    @cached_property
    def rules(self) -> tuple[RuleInfo, ...]:
        """Every rule of every module (from regorus' AST; compile-time use only)."""
        engine = self._here()
        found: list[RuleInfo] = []
        for item in orjson.loads(engine.get_ast_as_json()):
            file = str(item.get("source", {}).get("file", ""))
            package = self.module_packages.get(file, "")
            for rule in item.get("ast", {}).get("rules", []):
                info = _rule_info(rule, package, file)
                if info is not None:
                    found.append(info)
        return tuple(found)


def _rule_info(rule: Mapping[str, Any], package: str, file: str) -> RuleInfo | None:
    if "Default" in rule:
        d = rule["Default"]
        name = _ref_name(d.get("refr"))
        line = int(d.get("span", {}).get("line", 0))
        return RuleInfo(package, name, file, line, False) if name else None
    spec = rule.get("Spec")
    if not isinstance(spec, Mapping):
        return None
    head = spec.get("head", {})
    kind, body = next(iter(head.items()), ("", {}))
    name = _ref_name(body.get("refr") if isinstance(body, Mapping) else None)
    line = int(spec.get("span", {}).get("line", 0))
    return RuleInfo(package, name, file, line, kind == "Func") if name else None


def _ref_name(ref: Any) -> str:
    """The first name of a rule's head (``deny`` in ``deny contains x``, ``a`` in ``a.b``)."""
    while isinstance(ref, Mapping):
        if "Var" in ref:
            return str(ref["Var"].get("value", ""))
        inner = next(iter(ref.values()), None)
        ref = inner.get("refr") if isinstance(inner, Mapping) else None
    return ""


def check_program(program: Program, samples: Sequence[Mapping[str, Any]]) -> list[RegoError]:
    """What is wrong with ``program`` beyond its syntax: each sample input evaluated once, and
    the decision rules compiled for regorus' VM to find calls to unknown functions. Errors of
    kind ``static`` are wrong for every input; ``runtime`` ones failed on a sample."""
    found: dict[tuple[str | None, int | None, str], RegoError] = {}
    for sample in samples:
        try:
            program.evaluate(orjson.dumps(sample))
        except RegoError as err:
            # Kept without its traceback: frames that hold the program would make a cycle,
            # and a cycle may be collected on another thread (see the module's docstring).
            found.setdefault((err.file, err.line, err.message), err.with_traceback(None))
    entry_points = sorted(
        {
            r.path
            for r in program.rules
            if not r.function and r.name in DECISION_RULES and _is_decision_package(r.package)
        }
    )
    if entry_points:
        modules = [(m.file, m.text) for m in program.modules]
        try:
            regorus.Program.compile_from_modules("{}", modules, entry_points)
        except Exception as exc:
            vm = rego_error(exc, static=True)
            # Only unknown functions: the VM lacks some builtins the interpreter has.
            if "Unknown function" in vm.message and not any(
                (e.file, e.line) == (vm.file, vm.line) for e in found.values()
            ):
                found[(vm.file, vm.line, vm.message)] = vm
    return list(found.values())
