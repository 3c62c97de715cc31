"""Structural errors: YAML paths and plain messages instead of pydantic's."""

from __future__ import annotations

from typing import Any

import pytest

from plano.config import ConfigIssue, check_config
from plano.config.issues import describe, format_path


def _errors(data: object) -> list[str]:
    config, issues = check_config(data, {})
    assert config is None
    return [str(issue) for issue in issues if issue.severity == "error"]


def test_issue_str_is_path_colon_message() -> None:
    assert str(ConfigIssue("listeners[0].port", "bad")) == "listeners[0].port: bad"
    assert str(ConfigIssue("", "bad")) == "bad"


def test_format_path() -> None:
    assert format_path(["listeners", 0, "port"]) == "listeners[0].port"
    assert format_path(["model_aliases", "gpt-4.1", "target"]) == "model_aliases['gpt-4.1'].target"
    assert format_path([]) == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "null"), (True, "true"), ("x", "'x'"), (5, "5"), ({}, "a mapping"), ([], "a list")],
)
def test_describe_uses_yaml_words(value: object, text: str) -> None:
    assert describe(value) == text


def test_integer_expected(base: dict[str, Any]) -> None:
    base["listeners"][0]["port"] = "twelve"
    assert _errors(base) == ["listeners[0].port: expected an integer, got 'twelve'"]


def test_integer_given_a_list(base: dict[str, Any]) -> None:
    base["gateway"] = {"workers": [1]}
    assert _errors(base) == ["gateway.workers: expected an integer, got a list"]


def test_string_expected(base: dict[str, Any]) -> None:
    base["model_providers"][0]["headers"] = {"X-Count": 5}
    assert _errors(base) == ["model_providers[0].headers.X-Count: expected a string, got 5"]


def test_bool_expected(base: dict[str, Any]) -> None:
    base["model_providers"][0]["default"] = "maybe"
    assert _errors(base) == ["model_providers[0].default: expected true or false, got 'maybe'"]


def test_number_expected(base: dict[str, Any]) -> None:
    base["overrides"] = {"prompt_target_intent_matching_threshold": "high"}
    assert _errors(base) == [
        "overrides.prompt_target_intent_matching_threshold: expected a number, got 'high'"
    ]


def test_version_expected_one_of(base: dict[str, Any]) -> None:
    base["version"] = "v9"
    assert _errors(base) == [
        "version: expected one of v0.1, v0.1.0, 0.1-beta, 0.2.0, v0.3.0, v0.4.0, got 'v9'"
    ]


def test_version_written_as_a_yaml_float(base: dict[str, Any]) -> None:
    base["version"] = 0.2
    assert _errors(base)[0].endswith("got 0.2")


def test_literal_suggests_the_close_value(base: dict[str, Any]) -> None:
    base["gateway"] = {"log_level": "warn"}
    assert _errors(base) == [
        "gateway.log_level: expected one of debug, info, warning, error, got 'warn' "
        "(did you mean 'warning'?)"
    ]


def test_listener_type_literal(base: dict[str, Any]) -> None:
    base["listeners"][0]["type"] = "llm"
    assert _errors(base) == ["listeners[0].type: expected one of model, agent, prompt, got 'llm'"]


def test_missing_required_top_level_key(base: dict[str, Any]) -> None:
    del base["version"]
    assert _errors(base) == ["missing required key 'version'"]


def test_missing_required_nested_key(base: dict[str, Any]) -> None:
    base["model_providers"] = [{"access_key": "k"}]
    assert _errors(base) == ["model_providers[0]: missing required key 'model'"]


def test_unknown_key_with_did_you_mean(base: dict[str, Any]) -> None:
    base["model_providers"][0]["defualt"] = True
    assert _errors(base) == ["model_providers[0]: unknown key 'defualt' (did you mean 'default'?)"]


def test_unknown_top_level_key_with_did_you_mean(base: dict[str, Any]) -> None:
    base["model_provider"] = []
    assert _errors(base) == ["unknown key 'model_provider' (did you mean 'model_providers'?)"]


def test_unknown_key_without_a_close_match(base: dict[str, Any]) -> None:
    base["gateway"] = {"zzz": 1}
    assert _errors(base) == ["gateway: unknown key 'zzz'"]


def test_unknown_key_in_legacy_listeners_drops_union_tag(base: dict[str, Any]) -> None:
    base["listeners"] = {"egres_traffic": {"port": 1}}
    assert _errors(base) == [
        "listeners: unknown key 'egres_traffic' (did you mean 'egress_traffic'?)"
    ]


def test_error_inside_legacy_listener(base: dict[str, Any]) -> None:
    base["listeners"] = {"egress_traffic": {"port": "x", "message_format": "anthropic"}}
    assert _errors(base) == [
        "listeners.egress_traffic.port: expected an integer, got 'x'",
        "listeners.egress_traffic.message_format: expected one of openai, got 'anthropic'",
    ]


def test_unknown_key_in_dict_of_models(base: dict[str, Any]) -> None:
    base["endpoints"] = {"api": {"endpoint": "api:80", "protocl": "http"}}
    assert _errors(base) == ["endpoints.api: unknown key 'protocl' (did you mean 'protocol'?)"]


def test_list_expected(base: dict[str, Any]) -> None:
    base["model_providers"] = {"model": "openai/gpt-4o"}
    assert _errors(base) == ["model_providers: expected a list, got a mapping"]


def test_listeners_of_wrong_type(base: dict[str, Any]) -> None:
    base["listeners"] = 5
    assert _errors(base) == ["listeners: expected a list, got 5"]


def test_mapping_expected_for_dict(base: dict[str, Any]) -> None:
    base["model_aliases"] = ["fast"]
    assert _errors(base) == ["model_aliases: expected a mapping, got a list"]


def test_mapping_expected_for_model(base: dict[str, Any]) -> None:
    base["gateway"] = "fast"
    assert _errors(base) == ["gateway: expected a mapping, got 'fast'"]


def test_mapping_expected_for_list_item(base: dict[str, Any]) -> None:
    base["model_providers"] = ["openai/gpt-4o"]
    assert _errors(base) == ["model_providers[0]: expected a mapping, got 'openai/gpt-4o'"]


@pytest.mark.parametrize("data", [[1, 2], "text", None])
def test_top_level_must_be_a_mapping(data: object) -> None:
    assert _errors(data) == [f"expected a mapping, got {describe(data)}"]


def test_value_error_message_is_passed_without_prefix(base: dict[str, Any]) -> None:
    base["listeners"][0]["timeout"] = "5 sec"
    [error] = _errors(base)
    assert error.startswith("listeners[0].timeout: expected a duration like '300s'")
    assert "Value error" not in error


def test_model_validator_message(base: dict[str, Any]) -> None:
    base["state_storage"] = {"type": "postgres"}
    assert _errors(base) == [
        "state_storage: state_storage of type postgres needs a connection_string"
    ]


def test_bounds(base: dict[str, Any]) -> None:
    base["listeners"][0]["port"] = 70000
    base["gateway"] = {"max_in_flight": 0, "connect_timeout": 0}
    assert _errors(base) == [
        "listeners[0].port: must be at most 65535, got 70000",
        "gateway.max_in_flight: must be at least 1, got 0",
        "gateway.connect_timeout: must be greater than 0, got 0",
    ]


def test_port_zero_is_out_of_range(base: dict[str, Any]) -> None:
    base["listeners"][0]["port"] = 0
    assert _errors(base) == ["listeners[0].port: must be at least 1, got 0"]


def test_empty_list_where_items_are_required(base: dict[str, Any]) -> None:
    base["routing_preferences"] = [{"name": "a", "description": "b", "models": []}]
    assert _errors(base) == ["routing_preferences[0].models: expected at least 1 item(s), got 0"]


def test_every_structural_error_is_reported_at_once(base: dict[str, Any]) -> None:
    base["version"] = "v9"
    base["listeners"][0]["port"] = "x"
    base["model_providers"][0]["defualt"] = True
    assert len(_errors(base)) == 3


def test_errors_come_before_warnings(base: dict[str, Any]) -> None:
    base["model_providers"][0]["base_url"] = "$UNSET"
    base["listeners"][0]["port"] = "x"
    _, issues = check_config(base, {})
    assert [issue.severity for issue in issues] == ["error", "warning"]
