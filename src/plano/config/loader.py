"""Reading a config file: bounded YAML, ``$VAR`` expansion, validation, checks, one list of issues.

:func:`check_config_file` never raises for what the file holds, so ``plano validate`` prints every
issue at once; :func:`load_config` (start-up) reads the file the same way and raises
:class:`~plano.errors.ConfigError` listing every error. The YAML is parsed with limits (file size,
nesting depth, aliases and the values they expand to), so a hostile or broken file is an error
message, never a hang, a memory blow-up or a ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.reader import ReaderError

from plano.config.checks import check_semantics
from plano.config.env import expand_env
from plano.config.issues import ConfigIssue, issues_from_validation
from plano.config.policy_checks import load_policies
from plano.config.schema import PlanoConfig
from plano.config.tls_checks import check_tls
from plano.config.unsupported import find_unsupported
from plano.errors import ConfigError

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "ConfigIssue",
    "check_config",
    "check_config_file",
    "expand_env",
    "json_schema",
    "load_config",
    "parse_yaml",
]

#: Far above any real config, far below what exhausts memory or the stack.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 10_000
#: Values (scalars, lists, mappings) once every alias is expanded: a "billion laughs" file is
#: a few hundred bytes whose aliases expand to 10**9 values.
MAX_VALUES = 1_000_000

_SEVERITY_ORDER = {"error": 0, "warning": 1, "offline": 2, "unsupported": 3}
_TOO_DEEP = f"the YAML nests deeper than {MAX_DEPTH} levels"


class _Refused(Exception):
    """The YAML is over one of the limits; ``mark`` is where it was noticed."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that notes duplicate keys (YAML keeps the last silently) and refuses
    nesting past :data:`MAX_DEPTH` and more than :data:`MAX_ALIASES` aliases while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.issues: list[ConfigIssue] = []
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # The composer recurses once per level: stop long before Python's recursion limit.
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"the YAML uses more than {MAX_ALIASES:,} aliases", self._here())
        if self._depth >= MAX_DEPTH:
            raise _Refused(_TOO_DEEP, self._here())
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _here(self) -> yaml.Mark | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped stub
        return event.start_mark if isinstance(event.start_mark, yaml.Mark) else None


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    first_line: dict[str, int] = {}
    for key_node, _ in node.value:
        # Only the mapping's own scalar keys: "<<" merges may legitimately be overridden.
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first_line:
            loader.issues.append(
                ConfigIssue(
                    "",
                    f"line {line}: duplicate key {key_node.value!r} "
                    f"(first at line {first_line[key_node.value]}); the last one wins",
                    "warning",
                )
            )
        else:
            first_line[key_node.value] = line
    yield from loader.construct_yaml_map(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _measure(node: yaml.Node, depth: int, seen: dict[int, tuple[int, int]], open_: set[int]) -> int:
    """How many values ``node`` stands for with aliases expanded; records its height in ``seen``.

    Aliases make the node graph a DAG (or, with ``&a [*a]``, a cycle), so each node is measured
    once and reused: a billion-laughs file is refused after a few dozen nodes, not 10**9.
    """
    key = id(node)
    if depth >= MAX_DEPTH:
        raise _Refused(_TOO_DEEP, node.start_mark)
    if key in open_:
        raise _Refused("an alias refers to the value that contains it", node.start_mark)
    if key in seen:
        count, height = seen[key]
    else:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        open_.add(key)
        count, height = 1, 1
        for child in children:
            count += _measure(child, depth + 1, seen, open_)
            height = max(height, 1 + seen[id(child)][1])
            if count > MAX_VALUES:
                message = f"the YAML expands to more than {MAX_VALUES:,} values through its aliases"
                raise _Refused(message, node.start_mark)
        open_.discard(key)
        seen[key] = (count, height)
    if depth + height > MAX_DEPTH:
        # Aliases can nest a deep anchor inside another one: the expanded depth is what counts.
        raise _Refused(_TOO_DEEP, node.start_mark)
    return count


def parse_yaml(text: str) -> tuple[object, list[ConfigIssue]]:
    """Parse config text with safe YAML semantics and the limits above.

    Returns the data (``None`` on any error) and issues: a syntax error with its line and
    column, an empty file, a limit exceeded, or duplicate-key warnings.
    """
    if _blank(text):
        # Checked before PyYAML, which calls a tab on an otherwise blank line a syntax error.
        return None, [ConfigIssue("", "the config file is empty")]
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader checks every character here
        node = loader.get_single_node()
        if node is None or (
            isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style
        ):
            # No document, or only "---" and comments.
            return None, [ConfigIssue("", "the config file is empty")]
        _measure(node, 0, {}, set())
        return loader.construct_document(node), loader.issues
    except _Refused as exc:
        return None, [ConfigIssue("", f"{_where(exc.mark)}{exc.message}")]
    except ReaderError as exc:
        return None, [_reader_issue(text, exc)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [ConfigIssue("", f"{_where(mark)}YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue("", f"YAML syntax error: {exc}")]
    finally:
        if loader is not None:
            loader.dispose()


def _blank(text: str) -> bool:
    """Only whitespace and comments. (A "#" line is content only inside a block scalar, and
    that needs a line that is neither blank nor a comment to open it.)"""
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def _reader_issue(text: str, exc: ReaderError) -> ConfigIssue:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else 0
    return ConfigIssue(
        "",
        f"line {line}, column {column}: character U+{char:04X} is not allowed in YAML text "
        "(is this a binary file?)",
    )


def _decode(raw: bytes) -> tuple[str | None, list[ConfigIssue]]:
    """The file's bytes as text, or why they are not a config: too large, binary, not UTF-8."""
    if len(raw) > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MiB"
        return None, [ConfigIssue("", f"the config file is larger than {limit}")]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [ConfigIssue("", "the config file is UTF-16 text; save it as UTF-8")]
    if b"\0" in raw:
        return None, [ConfigIssue("", "the config file is binary (it holds NUL bytes), not YAML")]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        message = f"the config file is not UTF-8 text ({where}); is it a binary file?"
        return None, [ConfigIssue("", message)]


def _read(path: Path) -> bytes:
    """At most one byte past the size limit, so a huge file is refused without reading it all."""
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc


def check_config(
    data: object, env: Mapping[str, str], base: Path | None = None
) -> tuple[PlanoConfig | None, list[ConfigIssue]]:
    """Validate parsed config data; never raises.

    Expands ``$VAR``/``${VAR}`` from ``env``, validates the structure, then runs the
    cross-field checks, reads and compiles the policies (files relative to ``base``, the
    config file's folder; the working folder by default) and lists keys that are accepted
    but not supported yet. Returns the config (``None`` if any issue is an error) and every
    issue, errors first.
    """
    expanded, issues = expand_env(data, env)
    try:
        config = PlanoConfig.model_validate(expanded)
    except ValidationError as exc:
        issues += issues_from_validation(exc, PlanoConfig)
        return None, _ordered(issues)
    issues += check_semantics(config)
    loaded, policy_issues = load_policies(config, base or Path.cwd())
    config.attach_policies(loaded)
    issues += policy_issues
    material, tls_issues = check_tls(config, base or Path.cwd())
    config.attach_tls(material)
    issues += tls_issues
    issues += find_unsupported(expanded)
    issues = _ordered(issues)
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    return config, issues


def _ordered(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: _SEVERITY_ORDER[issue.severity])


def check_config_file(
    path: Path, env: Mapping[str, str]
) -> tuple[PlanoConfig | None, list[ConfigIssue]]:
    """Read, parse, validate and check the config file at ``path``: what ``plano validate``
    prints and ``plano up`` loads, so the two cannot disagree.

    Returns the config (``None`` if any issue is an error) and every issue, errors first.
    Raises :class:`~plano.errors.ConfigError` only when the file cannot be read at all.
    """
    text, issues = _decode(_read(path))
    if text is None:
        return None, issues
    data, issues = parse_yaml(text)
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    config, more = check_config(data, env, path.parent)
    return config, _ordered([*issues, *more])


def load_config(path: Path, env: Mapping[str, str]) -> tuple[PlanoConfig, list[ConfigIssue]]:
    """Read, validate and check the config file at ``path``.

    Returns the config and its warnings / unsupported notices. Raises
    :class:`~plano.errors.ConfigError` naming every error, or when the file cannot be read.
    """
    config, issues = check_config_file(path, env)
    errors = [issue for issue in issues if issue.severity == "error"]
    if config is None or errors:
        lines = "\n".join(f"  - {issue}" for issue in errors)
        count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
        raise ConfigError(f"invalid config {path} ({count}):\n{lines}")
    return config, issues


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file (validation mode: what a user may write)."""
    schema = PlanoConfig.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
