"""Policies and tool rules through `plano up`, with the openai and anthropic SDKs against the
simulated providers; `plano validate` and `plano policy test` on policy files."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml
from tests.e2e.conftest import Plano, e2e_config, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
CLI = Callable[..., subprocess.CompletedProcess[str]]

RULES = """package plano.e2e

deny contains "the model 'forbidden' is off limits" if input.request.model == "forbidden"

route := "groq/llama-3.3-70b-versatile" if input.request.model == "reroute-me"

cap_max_tokens := 7 if input.request.model == "capped"

strip_tool_calls contains "dangerous_call" if input.phase == "response"
"""


def tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def anthropic_tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }


@pytest.fixture(scope="module")
def plano(sims: dict[str, SimServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plano]:
    tmp = tmp_path_factory.mktemp("policies")
    shutil.copytree(EXAMPLES, tmp / "policies", ignore=shutil.ignore_patterns("config.yaml"))
    config = e2e_config(sims)
    config["model_aliases"].update(
        {name: {"target": "openai/gpt-4o-mini"} for name in ("forbidden", "reroute-me", "capped")}
    )
    config["policies"] = [
        {"path": "policies/*.rego", "session_counters": True},
        {"name": "e2e", "rego": RULES},
    ]
    config["tool_rules"] = [{"deny": ["db_write"], "apply_to": "offered", "name": "no-writes"}]
    p = start_plano(config, tmp)
    yield p
    assert p.stop() == 0, p.output()


@pytest.fixture
def oai(plano: Plano) -> openai.OpenAI:
    return openai.OpenAI(base_url=plano.url + "/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def claude(plano: Plano) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=plano.url, api_key="client-key", max_retries=0) as c:
        yield c


USER = [{"role": "user", "content": "Hello there"}]


def test_deny_in_the_openai_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        oai.chat.completions.create(model="forbidden", messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 403
    assert "the model 'forbidden' is off limits" in info.value.message
    assert info.value.response.headers["x-plano-policy"] == "deny"


def test_deny_in_the_anthropic_shape(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude.messages.create(model="forbidden", max_tokens=32, messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 403
    assert "off limits" in info.value.message


def test_a_stream_is_denied_before_it_starts(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        oai.chat.completions.create(model="forbidden", messages=USER, stream=True)  # type: ignore[arg-type]


def test_route_rewrites_the_model(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="reroute-me", messages=USER)  # type: ignore[arg-type]
    assert raw.headers["x-plano-provider"] == "groq"
    assert raw.headers["x-plano-model"] == "llama-3.3-70b-versatile"
    assert raw.headers["x-plano-policy"] == "route"


def test_max_tokens_cap_reaches_the_provider(
    oai: openai.OpenAI, sims: dict[str, SimServer]
) -> None:
    resp = oai.chat.completions.create(model="capped", messages=USER, max_tokens=500)  # type: ignore[arg-type]
    assert sims["ok"].requests[-1].body["max_tokens"] == 7
    assert resp.usage is not None and resp.usage.completion_tokens <= 7


def test_an_offered_tool_is_stripped_from_the_request(
    oai: openai.OpenAI, sims: dict[str, SimServer]
) -> None:
    resp = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "use a tool"}],
        tools=[tool("db_write"), tool("db_read")],  # type: ignore[list-item]
    )
    sent = sims["ok"].requests[-1].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["db_read"]
    calls = resp.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["db_read"]  # type: ignore[union-attr]


def test_a_called_tool_is_stripped_from_a_stream(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "use both tools"}],
        tools=[tool("dangerous_call"), tool("get_weather")],  # type: ignore[list-item]
        stream=True,
    )
    names, indexes, finishes = [], set(), []
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                indexes.add(call.index)
                if call.function and call.function.name:
                    names.append(call.function.name)
            finishes.append(choice.finish_reason)
    assert names == ["get_weather"] and indexes == {0}
    assert finishes[-1] == "tool_calls"


def test_a_called_tool_is_stripped_from_an_anthropic_stream(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="gpt-4o-mini",
        max_tokens=64,
        messages=[{"role": "user", "content": "use both tools"}],
        tools=[anthropic_tool("dangerous_call"), anthropic_tool("get_weather")],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    used = [b.name for b in final.content if b.type == "tool_use"]
    assert used == ["get_weather"]


def test_validate_reports_a_compile_error_with_its_line(tmp_path: Path, run_cli: CLI) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "ok.rego").write_text('package plano.ok\ndeny contains "x" if false\n')
    (tmp_path / "policies" / "broken.rego").write_text(
        'package plano.broken\n\ndeny contains msg if {\n\tmsg := "a" +\n}\n'
    )
    config = {
        "version": "v0.4.0",
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k", "default": True}],
        "policies": [{"path": "policies/*.rego"}],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_cli("validate")
    assert r.returncode == 1
    assert "policies[0].path: policies/broken.rego:4:9: expecting" in r.stdout, r.stdout
    up = run_cli("up", "--port", "1")
    assert up.returncode == 1 and "policies/broken.rego:4:9" in up.stderr


def test_policy_test_runs_the_examples(run_cli: CLI) -> None:
    r = run_cli("policy", "test", str(EXAMPLES / "config.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "✓ pass" in r.stdout and " 0 failed" in r.stdout
    assert "rego: plano.tool_budget_test.test_no_tools_once_spent" in r.stdout
    assert "case: eu_models.cases.yaml: team eu-data asking for an OpenAI model" in r.stdout


def test_policy_test_fails_on_a_wrong_expectation(tmp_path: Path, run_cli: CLI) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    cases = tmp_path / "ex" / "eu_models.cases.yaml"
    cases.write_text(cases.read_text().replace("route: mistral/mistral-small-latest", "route: x"))
    r = run_cli("policy", "test", str(tmp_path / "ex" / "config.yaml"))
    assert r.returncode == 1
    assert "✗ FAIL" in r.stdout and "route: expected 'x'" in r.stdout
    assert " 1 failed" in r.stdout
