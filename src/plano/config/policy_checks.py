"""Policies read and compiled once per load: what ``plano validate`` reports, with the file and
line of every error, and what the runtime loads (the same text, read once).

A file entry's ``path`` is a file or a glob relative to the config file's folder; files ending
in ``_test.rego`` (and, for each policy file ``x.rego``, a ``x_test.rego`` beside it) are its
tests, kept for ``plano policy test`` and never loaded to serve. Each entry is compiled alone
(syntax), evaluated over the sample input documents (unsafe variables, rule analysis) and
compiled for regorus' VM (unknown functions); two entries may not define the same package
(each entry must fail, or be ignored, on its own).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from plano.config.issues import ConfigIssue
from plano.config.policies import LoadedPolicy, PolicyEntry
from plano.config.schema import PlanoConfig
from plano.errors import ConfigError
from plano.rego import Module, Program, RegoError, check_program, sample_input

__all__ = ["MAX_POLICY_BYTES", "load_policies", "loaded_policies"]

#: Far above any real policy file.
MAX_POLICY_BYTES = 1024 * 1024
_TEST_SUFFIX = "_test.rego"


def _label(file: Path, base: Path) -> str:
    try:
        return str(file.relative_to(base))
    except ValueError:
        return str(file)


def _read_one(file: Path, base: Path) -> tuple[Module | None, str | None]:
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read {_label(file, base)}: {exc.strerror or exc}"
    if len(raw) > MAX_POLICY_BYTES:
        return None, f"{_label(file, base)} is larger than {MAX_POLICY_BYTES // 1024} KiB"
    try:
        return Module(_label(file, base), raw.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, f"{_label(file, base)} is not UTF-8 text"


def _files(pattern: str, base: Path) -> list[Path]:
    full = Path(pattern) if os.path.isabs(pattern) else base / pattern
    if glob.has_magic(str(full)):
        return [Path(p) for p in sorted(glob.glob(str(full), recursive=True)) if Path(p).is_file()]
    return [full] if full.is_file() else []


def _read_entry(
    entry: PolicyEntry, at: str, base: Path
) -> tuple[list[Module], list[Module], list[Path], list[ConfigIssue]]:
    if entry.rego is not None:
        return [Module(f"{at}.rego", entry.rego)], [], [], []
    assert entry.path is not None
    found = _files(entry.path, base)
    policies = [f for f in found if not f.name.endswith(_TEST_SUFFIX)]
    tests = [f for f in found if f.name.endswith(_TEST_SUFFIX)]
    for f in policies:
        sibling = f.with_name(f.stem + _TEST_SUFFIX)
        if sibling.is_file() and sibling not in tests:
            tests.append(sibling)
    if not policies:
        what = "no policy file" if glob.has_magic(entry.path) else "no file"
        return [], [], [], [ConfigIssue(f"{at}.path", f"{entry.path!r} matches {what}")]
    modules: list[Module] = []
    test_modules: list[Module] = []
    issues: list[ConfigIssue] = []
    for group, into in ((policies, modules), (tests, test_modules)):
        for f in group:
            module, problem = _read_one(f, base)
            if problem is not None:
                issues.append(ConfigIssue(f"{at}.path", problem))
            elif module is not None:
                into.append(module)
    return modules, test_modules, policies, issues


def _issue(at: str, entry: PolicyEntry, err: RegoError, *, sample: bool = False) -> ConfigIssue:
    field = f"{at}.rego" if entry.rego is not None else f"{at}.path"
    if entry.rego is not None and err.line is not None:
        text = f"line {err.line}, column {err.column} of the inline policy: {err.message}"
    else:
        text = str(err)
    if sample and err.kind == "runtime":
        return ConfigIssue(field, f"fails on the sample input document: {text}", "warning")
    return ConfigIssue(field, text)


def _compile(
    entry: PolicyEntry, at: str, modules: Sequence[Module]
) -> tuple[Program | None, list[ConfigIssue]]:
    try:
        program = Program(modules)
    except RegoError as err:
        return None, [_issue(at, entry, err)]
    samples = [sample_input("request"), sample_input("response")]
    issues = [_issue(at, entry, e, sample=True) for e in check_program(program, samples)]
    if not program.decision_paths:
        message = (
            "defines no package under 'plano' (write 'package plano.<name>'): it decides nothing"
        )
        issues.append(ConfigIssue(at, message, "warning"))
    return program, issues


def load_policies(
    config: PlanoConfig, base: Path
) -> tuple[tuple[LoadedPolicy, ...], list[ConfigIssue]]:
    """Read and check every entry of ``config.policies`` (files relative to ``base``)."""
    loaded: list[LoadedPolicy] = []
    issues: list[ConfigIssue] = []
    owners: dict[str, str] = {}
    for index, entry in enumerate(config.policies):
        at = f"policies[{index}]"
        modules, tests, files, problems = _read_entry(entry, at, base)
        issues += problems
        if problems or not modules:
            continue
        program, problems = _compile(entry, at, modules)
        issues += problems
        if program is None:
            continue
        for package in program.packages:
            if package in owners:
                message = (
                    f"package {package!r} is also defined by {owners[package]}; "
                    "give each policy its own packages"
                )
                issues.append(ConfigIssue(at, message))
            owners.setdefault(package, at)
        loaded.append(LoadedPolicy(index, entry, tuple(modules), tuple(tests), tuple(files)))
    return tuple(loaded), issues


def loaded_policies(config: PlanoConfig) -> tuple[LoadedPolicy, ...]:
    """The policies the config was validated with; read now (relative to the working folder)
    for a config built without :func:`plano.config.check_config`. Raises
    :class:`~plano.errors.ConfigError` on any error."""
    held = config.loaded_policies
    if held is not None:
        return held
    loaded, issues = load_policies(config, Path.cwd())
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        lines = "\n".join(f"  - {i}" for i in errors)
        raise ConfigError(f"invalid policies ({len(errors)} error(s)):\n{lines}")
    config.attach_policies(loaded)
    return loaded
