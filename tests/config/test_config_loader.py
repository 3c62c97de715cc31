"""Loading files: YAML errors, ConfigError, JSON Schema, and the shipped examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plano.config import check_config, check_config_file, json_schema, load_config, parse_yaml
from plano.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

VALID = """\
version: v0.4.0
listeners:
  - type: model
    name: llm
    port: 12000
    timeout: 5m
model_providers:
  - model: openai/gpt-4o
    access_key: $OPENAI_API_KEY
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_valid_file(tmp_path: Path) -> None:
    config, issues = load_config(_write(tmp_path, VALID), {"OPENAI_API_KEY": "sk-1"})
    assert issues == []
    assert config.model_listener.timeout == 300.0
    assert config.model_providers[0].access_key == "sk-1"


def test_load_returns_warnings(tmp_path: Path) -> None:
    text = VALID + "    base_url: $OPENAI_BASE_URL\n"
    _, issues = load_config(_write(tmp_path, text), {"OPENAI_API_KEY": "sk-1"})
    assert [str(issue) for issue in issues] == [
        "model_providers[0].base_url: environment variable OPENAI_BASE_URL is not set"
    ]


def test_load_refuses_an_unset_access_key(tmp_path: Path) -> None:
    # It used to be a warning, and `plano up` served with an empty key.
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, VALID), {})
    assert str(info.value).endswith(
        "(1 error):\n  - model_providers[0].access_key: "
        "environment variable OPENAI_API_KEY is not set"
    )


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file not found: {missing}"):
        load_config(missing, {})


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, {})


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n", "# nothing yet\n", "---\n# just a start\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="the config file is empty"):
        load_config(_write(tmp_path, text), {})


@pytest.mark.parametrize("text", ["", "  \n", "# nothing yet\n"])
def test_validate_and_load_agree_that_an_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    # `plano validate` once called an empty file valid while `plano up` refused it.
    config, issues = check_config_file(_write(tmp_path, text), {})
    assert config is None
    assert [(str(i), i.severity) for i in issues] == [("the config file is empty", "error")]
    assert parse_yaml(text) == (None, list(issues))


def test_check_config_file_returns_every_issue_without_raising(tmp_path: Path) -> None:
    text = VALID.replace("port: 12000", "port: twelve") + "version: v0.4.0\n"
    config, issues = check_config_file(_write(tmp_path, text), {})
    assert config is None
    assert [(i.path, i.severity) for i in issues] == [
        ("model_providers[0].access_key", "error"),
        ("listeners[0].port", "error"),
        ("", "warning"),
    ]


def test_check_config_file_raises_only_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        check_config_file(tmp_path / "nope.yaml", {})


def test_errors_are_all_listed_in_config_error(tmp_path: Path) -> None:
    text = VALID.replace("v0.4.0", "v9").replace("port: 12000", "port: twelve")
    text += "    base_url: $OPENAI_BASE_URL\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), {"OPENAI_API_KEY": "sk-1"})
    message = str(info.value)
    assert message.startswith(f"invalid config {tmp_path / 'config.yaml'} (2 errors):\n")
    assert "  - version: expected one of v0.1, v0.1.0," in message
    assert "  - listeners[0].port: expected an integer, got 'twelve'" in message
    # Warnings are not errors and stay out of the exception.
    assert "OPENAI_BASE_URL" not in message


def test_semantic_error_raises(tmp_path: Path) -> None:
    text = VALID.replace("openai/gpt-4o", "ollama/llama3.2")
    with pytest.raises(ConfigError, match=r"model_providers\[0\]: provider 'ollama' requires"):
        load_config(_write(tmp_path, text), {})


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    text = "version: v0.4.0\nlisteners:\n  - type: model\n   name: bad\n"
    with pytest.raises(ConfigError, match=r"line 4, column 4: YAML syntax error"):
        load_config(_write(tmp_path, text), {})


def test_parse_yaml_reports_syntax_error_as_issue() -> None:
    data, issues = parse_yaml("a: [1, 2\n")
    assert data is None
    assert len(issues) == 1
    assert issues[0].severity == "error"
    assert "YAML syntax error" in issues[0].message
    assert issues[0].message.startswith("line ")


def test_parse_yaml_is_safe() -> None:
    data, issues = parse_yaml("a: !!python/object/apply:os.system ['true']\n")
    assert data is None
    assert "YAML syntax error" in issues[0].message


def test_duplicate_keys_warn_with_lines() -> None:
    data, issues = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert data == {"a": 3, "b": 2}
    assert [(str(issue), issue.severity) for issue in issues] == [
        ("line 3: duplicate key 'a' (first at line 1); the last one wins", "warning")
    ]


def test_merge_keys_are_not_duplicates() -> None:
    data, issues = parse_yaml("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  x: 3\n")
    assert data == {"base": {"x": 1, "y": 2}, "derived": {"x": 3, "y": 2}}
    assert issues == []


def test_yaml_scalars_keep_plano_versions_as_strings() -> None:
    data, _ = parse_yaml("version: 0.2.0\n")
    assert data == {"version": "0.2.0"}


def test_duplicate_key_warning_survives_load(tmp_path: Path) -> None:
    _, issues = load_config(_write(tmp_path, VALID + "version: v0.4.0\n"), {"OPENAI_API_KEY": "k"})
    assert [issue.severity for issue in issues] == ["warning"]
    assert "duplicate key 'version'" in issues[0].message


def test_json_schema_has_descriptions_and_both_listener_forms() -> None:
    schema = json_schema()
    json.dumps(schema)  # plain JSON, no Python objects
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["version"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["version"]["enum"] == [
        "v0.1",
        "v0.1.0",
        "0.1-beta",
        "0.2.0",
        "v0.3.0",
        "v0.4.0",
    ]
    assert len(schema["properties"]["listeners"]["oneOf"]) == 2
    gateway = schema["$defs"]["GatewaySettings"]
    assert gateway["additionalProperties"] is False
    timeout = gateway["properties"]["connect_timeout"]
    assert "connect timeout" in timeout["description"]
    assert {"type": "number", "minimum": 0} in timeout["anyOf"]


def test_json_schema_every_property_has_a_description() -> None:
    schema = json_schema()
    missing = [
        f"{name}.{key}"
        for name, definition in schema["$defs"].items()
        for key, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    missing += [key for key, prop in schema["properties"].items() if not prop.get("description")]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("config.yaml", ["OPENAI_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY"]),
        ("legacy-v0.1.yaml", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY"]),
    ],
)
def test_examples_without_keys_fail_only_on_the_unset_keys(name: str, keys: list[str]) -> None:
    config, issues = check_config_file(EXAMPLES / name, {})
    assert config is None
    errors = [issue for issue in issues if issue.severity == "error"]
    assert [issue.message for issue in errors] == [
        f"environment variable {key} is not set" for key in keys
    ]
    assert all(issue.path.endswith("].access_key") for issue in errors)


def test_examples_load_cleanly_with_keys_set() -> None:
    env = {
        name: "k"
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY")
    }
    config, issues = load_config(EXAMPLES / "config.yaml", env)
    assert issues == []
    assert config.model_listener.port == 12000
    config, issues = load_config(EXAMPLES / "legacy-v0.1.yaml", env)
    assert [str(issue) for issue in issues] == [
        "llm_providers: deprecated; rename it to model_providers"
    ]
    assert config.model_providers[0].effective_name == "gpt-4o"


def test_check_config_never_raises_on_garbage() -> None:
    for data in (None, 5, "x", [None], {"version": {"a": [1]}}, {1: 2}):
        config, issues = check_config(data, {})
        assert config is None
        assert issues
