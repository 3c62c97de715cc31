"""$VAR / ${VAR} expansion from an environment passed in."""

from __future__ import annotations

import pytest

from plano.config import ConfigIssue, check_config, expand_env


def test_expands_both_syntaxes_in_a_string() -> None:
    value, issues = expand_env("$A-${B}-$A", {"A": "x", "B": "y"})
    assert value == "x-y-x"
    assert issues == []


def test_braces_delimit_the_name() -> None:
    value, _ = expand_env("${HOST}name", {"HOST": "api.", "HOSTname": "wrong"})
    assert value == "api.name"


def test_bare_name_takes_the_longest_identifier() -> None:
    value, _ = expand_env("$HOSTname", {"HOST": "wrong", "HOSTname": "right"})
    assert value == "right"


def test_expands_strings_inside_a_tree_and_leaves_other_values() -> None:
    tree = {"a": ["$X", {"b": "${X}/v1"}], "n": 5, "flag": True, "none": None}
    value, issues = expand_env(tree, {"X": "http://h"})
    assert value == {"a": ["http://h", {"b": "http://h/v1"}], "n": 5, "flag": True, "none": None}
    assert issues == []


def test_keys_are_not_expanded() -> None:
    value, _ = expand_env({"$X": "v"}, {"X": "k"})
    assert value == {"$X": "v"}


def test_input_is_not_mutated() -> None:
    tree = {"a": ["$X"]}
    expand_env(tree, {"X": "1"})
    assert tree == {"a": ["$X"]}


def test_unset_variable_is_a_warning_with_its_path_and_expands_to_empty() -> None:
    tree = {"model_providers": [{"base_url": "$OPENAI_BASE_URL"}]}
    value, issues = expand_env(tree, {})
    assert value == {"model_providers": [{"base_url": ""}]}
    assert issues == [
        ConfigIssue(
            "model_providers[0].base_url",
            "environment variable OPENAI_BASE_URL is not set",
            "warning",
        )
    ]
    assert str(issues[0]) == (
        "model_providers[0].base_url: environment variable OPENAI_BASE_URL is not set"
    )


def test_unset_variable_in_an_access_key_is_an_error() -> None:
    # Served empty, the key would only fail later, upstream, as a 401 far from its cause.
    tree = {"model_providers": [{"access_key": "$OPENAI_API_KEY"}]}
    value, issues = expand_env(tree, {})
    assert value == {"model_providers": [{"access_key": ""}]}
    assert [(str(i), i.severity) for i in issues] == [
        ("model_providers[0].access_key: environment variable OPENAI_API_KEY is not set", "error")
    ]


@pytest.mark.parametrize(
    "path",
    [
        ("x", "api_key"),
        ("x", "admin_key"),
        ("x", "password"),
        ("state_storage", "connection_string"),
        ("model_providers", 0, "headers", "Authorization"),
        ("model_providers", 0, "headers", "x-api-key"),
        ("endpoints", "e", "http_headers", "API-Key"),
    ],
)
def test_unset_variable_in_any_credential_is_an_error(path: tuple[str | int, ...]) -> None:
    tree: object = "Bearer ${TOKEN}"
    for part in reversed(path):
        tree = [tree] if isinstance(part, int) else {part: tree}
    _, issues = expand_env(tree, {})
    assert [issue.severity for issue in issues] == ["error"]
    assert issues[0].message == "environment variable TOKEN is not set"


def test_other_headers_and_keys_stay_warnings() -> None:
    tree = {"headers": {"x-team": "$TEAM"}, "authorization": "$NOT_A_HEADER", "key": "$K"}
    _, issues = expand_env(tree, {})
    assert [(i.path, i.severity) for i in issues] == [
        ("headers.x-team", "warning"),
        ("authorization", "warning"),
        ("key", "warning"),
    ]


def test_each_unset_variable_is_reported() -> None:
    _, issues = expand_env({"u": "${A}:${B}"}, {"B": "set"})
    assert [issue.message for issue in issues] == ["environment variable A is not set"]


def test_empty_value_counts_as_set() -> None:
    value, issues = expand_env("k=$EMPTY", {"EMPTY": ""})
    assert value == "k="
    assert issues == []


def test_dollar_without_a_name_is_left_alone() -> None:
    value, issues = expand_env("costs $5 or ${not closed", {})
    assert value == "costs $5 or ${not closed"
    assert issues == []


def test_check_config_expands_before_validating(base: dict[str, object]) -> None:
    base["listeners"] = [{"type": "model", "name": "llm", "port": "$PORT"}]
    base["model_providers"] = [{"model": "openai/gpt-4o", "access_key": "${KEY}"}]
    config, issues = check_config(base, {"PORT": "8080", "KEY": "sk-1"})
    assert issues == []
    assert config is not None
    assert config.listeners[0].port == 8080
    assert config.model_providers[0].access_key == "sk-1"


def test_check_config_rejects_an_unset_access_key(base: dict[str, object]) -> None:
    base["model_providers"] = [{"model": "openai/gpt-4o", "access_key": "$OPENAI_API_KEY"}]
    config, issues = check_config(base, {})
    assert config is None
    assert [(str(i), i.severity) for i in issues] == [
        ("model_providers[0].access_key: environment variable OPENAI_API_KEY is not set", "error")
    ]


def test_check_config_reports_other_unset_variables_as_warnings_only(
    base: dict[str, object],
) -> None:
    base["model_providers"] = [
        {"model": "openai/gpt-4o", "access_key": "k", "base_url": "$OPENAI_BASE_URL"}
    ]
    config, issues = check_config(base, {})
    assert config is not None
    assert [(str(i), i.severity) for i in issues] == [
        ("model_providers[0].base_url: environment variable OPENAI_BASE_URL is not set", "warning")
    ]
