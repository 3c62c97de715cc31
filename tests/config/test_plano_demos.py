"""Every config in Plano's ``demos/`` folder (tests/fixtures/plano_demos, copied verbatim)
validates here, and keys that name internet services get an ``offline`` note saying what
happens without them (docs/compatibility.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plano.config import check_config_file

DEMOS = Path(__file__).parents[1] / "fixtures" / "plano_demos"
FILES = sorted(DEMOS.glob("*.yaml"))
#: Dummy values for every ``$VAR`` the demos read (keys are never sent anywhere here).
ENV = {
    name: "dummy-key-0123456789"
    for name in sorted(
        {v for f in FILES for v in re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", f.read_text())}
    )
}

#: The notes each demo gets for what needs the internet.
OFFLINE = {
    "chatgpt_subscription": ["model_providers[0].model"],
    "openclaw_routing": ["overrides.llm_routing_model"],
    "routing_budget": ["model_metrics_sources[0]"],
}


def test_all_of_plano_demos_are_here() -> None:
    assert len(FILES) == 26
    assert (DEMOS / "NOTICE").read_text().startswith("Plano demo configs")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_demo_validates(path: Path) -> None:
    config, issues = check_config_file(path, ENV)
    errors = [str(i) for i in issues if i.severity == "error"]
    assert config is not None and errors == []
    offline = [i.path for i in issues if i.severity == "offline"]
    assert offline == OFFLINE.get(path.stem, [])


def test_without_keys_the_error_names_the_variable() -> None:
    _, issues = check_config_file(DEMOS / "preference_based_routing.yaml", {})
    assert next(i.message for i in issues if i.severity == "error") == (
        "environment variable OPENAI_API_KEY is not set"
    )


def test_offline_notes_say_what_happens() -> None:
    _, issues = check_config_file(DEMOS / "openclaw_routing.yaml", ENV)
    (note,) = [i for i in issues if i.severity == "offline"]
    assert "not called" in note.message and "embeddings" in note.message
    _, issues = check_config_file(DEMOS / "routing_budget.yaml", ENV)
    (note,) = [i for i in issues if i.severity == "offline"]
    assert "bundled offline prices" in note.message


def test_a_self_hosted_plano_router_gets_no_note() -> None:
    # plano/... with its own base_url is a local server: nothing needs the internet.
    for name in ("preference_based_routing_local", "travel_agents_local_orchestrator"):
        _, issues = check_config_file(DEMOS / f"{name}.yaml", ENV)
        assert [i for i in issues if i.severity == "offline"] == []


def test_plano_validate_prints_the_offline_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plano.cli import main

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["validate", str(DEMOS / "chatgpt_subscription.yaml")]) == 0
    out = capsys.readouterr().out
    assert "offline model_providers[0].model: 'chatgpt/*' calls the ChatGPT" in " ".join(
        out.split()
    )
    assert "is valid" in out
