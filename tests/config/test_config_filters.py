"""`filters:` entries and listeners' input_filters / output_filters, as `plano validate`
reports them: every problem with its YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from plano.cli import main
from plano.config import check_config, json_schema
from plano.config.filters import (
    FILTER_SPECS,
    FILTER_TYPES,
    HttpFilterSpec,
    McpFilterSpec,
    RegexRedactSpec,
)


def _errors(data: dict[str, Any]) -> list[str]:
    _, issues = check_config(data, {})
    return [str(i) for i in issues if i.severity == "error"]


@pytest.fixture
def with_filters(base: dict[str, Any]) -> dict[str, Any]:
    base["filters"] = [
        {"id": "guard", "url": "http://127.0.0.1:9000"},  # Plano's default type: mcp
        {"id": "audit", "type": "http", "url": "http://127.0.0.1:9001/hooks/"},
        {
            "id": "pii",
            "type": "regex_redact",
            "options": {"patterns": [{"name": "email", "regex": r"[\w.]+@[\w.]+"}]},
        },
    ]
    base["listeners"][0]["input_filters"] = ["pii", "guard"]
    base["listeners"][0]["output_filters"] = ["audit"]
    return base


def test_a_config_with_every_filter_type_is_valid(with_filters: dict[str, Any]) -> None:
    config, issues = check_config(with_filters, {})
    assert config is not None, [str(i) for i in issues]
    assert issues == []
    guard, audit, pii = config.filters
    assert isinstance(guard, McpFilterSpec) and guard.type == "mcp" and guard.timeout == 10.0
    assert isinstance(audit, HttpFilterSpec) and audit.url == "http://127.0.0.1:9001/hooks"
    assert isinstance(pii, RegexRedactSpec) and pii.options.placeholder == "[{name} {n}]"
    assert config.model_listener.input_filters == ["pii", "guard"]


def test_every_type_is_a_model_and_the_schema_documents_its_options() -> None:
    tags = [get_args(spec.model_fields["type"].annotation)[0] for spec in FILTER_SPECS]
    assert tags == list(FILTER_TYPES)
    defs = json_schema()["$defs"]
    assert set(defs["RegexRedactOptions"]["properties"]) == {
        "patterns",
        "placeholder",
        "restore",
        "max_match",
    }
    assert "forward_auth" in defs["HttpFilterSpec"]["properties"]


def test_unknown_filter_ids_are_reported_at_their_path(with_filters: dict[str, Any]) -> None:
    with_filters["listeners"][0]["input_filters"] = ["pii", "gaurd"]
    with_filters["listeners"][0]["output_filters"] = ["nothing"]
    assert _errors(with_filters) == [
        "listeners[0].input_filters[1]: unknown filter 'gaurd' (did you mean 'guard'?)",
        "listeners[0].output_filters[0]: unknown filter 'nothing'",
    ]


def test_an_agent_id_is_not_a_filter(with_filters: dict[str, Any]) -> None:
    with_filters["agents"] = [{"id": "helper", "url": "http://127.0.0.1:9100"}]
    with_filters["listeners"][0]["input_filters"] = ["helper"]
    assert "listeners[0].input_filters[0]: 'helper' is an agent, not a filter" in _errors(
        with_filters
    )


def test_agents_and_filters_share_one_id_namespace(with_filters: dict[str, Any]) -> None:
    with_filters["agents"] = [{"id": "audit", "url": "http://127.0.0.1:9100"}]
    with_filters["filters"].append({"id": "guard", "type": "http", "url": "http://x:1"})
    assert _errors(with_filters) == [
        "filters[1].id: duplicate id 'audit' (first declared at agents[0]); agents and filters "
        "share one namespace",
        "filters[3].id: duplicate id 'guard' (first declared at filters[0]); agents and "
        "filters share one namespace",
    ]


def test_bad_options_are_reported_with_their_paths(with_filters: dict[str, Any]) -> None:
    with_filters["filters"][2]["options"] = {
        "patterns": [{"name": "email", "regex": "[unclosed"}, {"name": "any", "regex": "x*"}],
        "restore": "yes please",
        "max_matc": 3,
    }
    errors = _errors(with_filters)
    assert errors[0].startswith(
        "filters[2].options.patterns[0].regex: not a valid regular expression"
    )
    assert errors[1:] == [
        "filters[2].options.patterns[1].regex: the regular expression matches the empty string",
        "filters[2].options.restore: expected true or false, got 'yes please'",
        "filters[2].options: unknown key 'max_matc' (did you mean 'max_match'?)",
    ]


def test_placeholder_and_pattern_names_are_checked(with_filters: dict[str, Any]) -> None:
    options = with_filters["filters"][2]["options"]
    options["placeholder"] = "<{kind}>"
    assert _errors(with_filters) == [
        "filters[2].options: placeholder '<{kind}>' may only use {name} and {n} ('kind')"
    ]
    options["placeholder"] = "[redacted]"
    options["restore"] = True
    assert _errors(with_filters) == [
        "filters[2].options: with restore: true the placeholder needs {n} to tell values apart"
    ]
    options.update(placeholder="[{n}]", patterns=[options["patterns"][0]] * 2)
    assert _errors(with_filters) == [
        "filters[2].options: pattern names must be unique; repeated: email"
    ]


def test_url_is_required_for_remote_filters_only(with_filters: dict[str, Any]) -> None:
    del with_filters["filters"][0]["url"]
    with_filters["filters"][1]["url"] = "ftp://files"
    with_filters["filters"][2]["url"] = "http://not-for-me"
    assert _errors(with_filters) == [
        "filters[0]: missing required key 'url'",
        "filters[1].url: expected an http(s) URL, got 'ftp://files'",
        "filters[2]: unknown key 'url'",
    ]


def test_unknown_type_and_on_error(with_filters: dict[str, Any]) -> None:
    with_filters["filters"][0]["type"] = "htpp"
    with_filters["filters"][1]["on_error"] = "ignore"
    assert _errors(with_filters) == [
        "filters[0].type: unknown type 'htpp'; expected one of mcp, http, regex_redact, pii, "
        "injection_guard (did you mean 'http'?)",
        "filters[1].on_error: expected one of open, closed, got 'ignore'",
    ]


def test_plano_validate_prints_the_paths(
    with_filters: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    with_filters["listeners"][0]["input_filters"] = ["pii", "missing"]
    path.write_text(yaml.safe_dump(with_filters))
    assert main(["validate", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "listeners[0].input_filters[1]: unknown filter 'missing'" in out
    with_filters["filters"][2]["options"]["patterns"][0]["regex"] = "("
    path.write_text(yaml.safe_dump(with_filters))
    assert main(["validate", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "filters[2].options.patterns[0].regex: not a valid regular expression" in out


def test_unknown_ids_without_any_filters(base: dict[str, Any]) -> None:
    base["listeners"][0]["output_filters"] = ["audit"]
    assert _errors(base) == [
        "listeners[0].output_filters[0]: unknown filter 'audit'; no filters are declared"
    ]
