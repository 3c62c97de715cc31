"""Reading a config file: YAML, ``$VAR`` expansion, validation, checks, one list of issues.

:func:`check_config` never raises, so ``plano validate`` can print every issue at once;
:func:`load_config` raises :class:`~plano.errors.ConfigError` listing every error, for start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from plano.config.checks import check_semantics
from plano.config.env import expand_env
from plano.config.issues import ConfigIssue, issues_from_validation
from plano.config.schema import PlanoConfig
from plano.config.unsupported import find_unsupported
from plano.errors import ConfigError

__all__ = [
    "ConfigIssue",
    "check_config",
    "expand_env",
    "json_schema",
    "load_config",
    "parse_yaml",
]

_SEVERITY_ORDER = {"error": 0, "warning": 1, "unsupported": 2}


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also notes duplicate keys (YAML keeps the last silently)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.issues: list[ConfigIssue] = []


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


def parse_yaml(text: str) -> tuple[object, list[ConfigIssue]]:
    """Parse config text with safe YAML semantics.

    Returns the data (``None`` on a syntax error) and issues: a syntax error with its line and
    column, or duplicate-key warnings.
    """
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.issues
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [ConfigIssue("", f"{where}YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue("", f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()


def check_config(
    data: object, env: Mapping[str, str]
) -> tuple[PlanoConfig | None, list[ConfigIssue]]:
    """Validate parsed config data; never raises.

    Expands ``$VAR``/``${VAR}`` from ``env``, validates the structure, then runs the
    cross-field checks and lists keys that are accepted but not supported yet. Returns the
    config (``None`` if any issue is an error) and every issue, errors first.
    """
    expanded, issues = expand_env(data, env)
    try:
        config = PlanoConfig.model_validate(expanded)
    except ValidationError as exc:
        issues += issues_from_validation(exc, PlanoConfig)
        return None, _ordered(issues)
    issues += check_semantics(config)
    issues += find_unsupported(expanded)
    issues = _ordered(issues)
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    return config, issues


def _ordered(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: _SEVERITY_ORDER[issue.severity])


def load_config(path: Path, env: Mapping[str, str]) -> tuple[PlanoConfig, list[ConfigIssue]]:
    """Read, validate and check the config file at ``path``.

    Returns the config and its warnings / unsupported notices. Raises
    :class:`~plano.errors.ConfigError` naming every error, or when the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    data, issues = parse_yaml(text)
    config: PlanoConfig | None = None
    if data is None and not issues:
        issues = [ConfigIssue("", "the config file is empty")]
    elif not any(issue.severity == "error" for issue in issues):
        config, more = check_config(data, env)
        issues = _ordered([*issues, *more])
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
