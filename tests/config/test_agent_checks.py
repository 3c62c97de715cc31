from __future__ import annotations

from typing import Any

from plano.config import check_config


def _issues(data: dict[str, Any]) -> list[tuple[str, str]]:
    _, issues = check_config(data, {})
    return [(i.severity, str(i)) for i in issues if i.severity != "unsupported"]


def _agents(base: dict[str, Any], **listener: Any) -> dict[str, Any]:
    base["agents"] = [
        {"id": "weather", "url": "http://127.0.0.1:1"},
        {"id": "flights", "url": "http://127.0.0.1:2", "api": "anthropic_messages"},
    ]
    base["filters"] = [{"id": "guard", "url": "http://127.0.0.1:3", "type": "http"}]
    entry = {
        "type": "agent",
        "name": "travel",
        "port": 8001,
        "router": "plano_orchestrator_v1",
        "agents": [
            {"id": "weather", "description": "w", "input_filters": ["guard"]},
            {"id": "flights", "description": "f", "default": True, "timeout": "5s"},
        ],
    }
    entry.update(listener)
    base["listeners"].append(entry)
    return base


def test_valid_agent_listener(base: dict[str, Any]) -> None:
    orch = {"chooser": "rules", "rules": [{"agents": ["weather"], "contains": ["rain"]}]}
    config, issues = check_config(_agents(base, orchestration=orch), {})
    assert config is not None, [str(i) for i in issues]
    listener = config.listeners[1]
    assert listener.agents[1].timeout == 5.0 and listener.orchestration is not None
    assert listener.orchestration.sessions.header == "x-plano-session-id"
    assert config.agents[1].api == "anthropic_messages"


def test_unknown_agents_filters_and_rule_agents(base: dict[str, Any]) -> None:
    data = _agents(
        base,
        agents=[
            {"id": "wether", "description": "w", "input_filters": ["weather", "nope"]},
            {"id": "flights", "description": "f", "default": True},
            {"id": "flights", "description": "again", "default": True},
        ],
        orchestration={
            "rules": [{"agents": ["hotel"], "pattern": "("}],
            "fallback_agent": "ghost",
        },
    )
    assert sorted(_issues(data)) == sorted(
        [
            (
                "warning",
                "listeners[1].agents: several default agents (flights, flights); the first "
                "one is used",
            ),
            (
                "error",
                "listeners[1].agents[0].id: unknown agent 'wether' (did you mean 'weather'?)",
            ),
            (
                "error",
                "listeners[1].agents[0].input_filters[0]: 'weather' is an agent, not a filter",
            ),
            ("error", "listeners[1].agents[0].input_filters[1]: unknown filter 'nope'"),
            ("error", "listeners[1].agents[2].id: agent 'flights' is listed twice"),
            (
                "error",
                "listeners[1].orchestration.rules[0].agents[0]: unknown agent of this "
                "listener 'hotel'",
            ),
            (
                "error",
                "listeners[1].orchestration.rules[0].pattern: bad pattern: missing ), "
                "unterminated subpattern at position 0",
            ),
            ("error", "listeners[1].orchestration.fallback_agent: unknown agent 'ghost'"),
        ]
    )


def test_old_filter_chain_name_is_accepted_with_a_warning(base: dict[str, Any]) -> None:
    data = _agents(base)
    data["listeners"][1]["agents"][0] = {
        "id": "weather",
        "description": "w",
        "filter_chain": ["guard"],
    }
    config, issues = check_config(data, {})
    assert config is not None
    assert config.listeners[1].agents[0].input_filters == ["guard"]
    assert (
        "warning",
        "listeners[1].agents[0].filter_chain: deprecated; rename it to input_filters",
    ) in [(i.severity, str(i)) for i in issues]


def test_summarize_needs_a_model_and_rules_chooser_needs_rules(base: dict[str, Any]) -> None:
    bad = _agents(base, orchestration={"chooser": "rules", "merge": "summarize"})
    errors = [m for s, m in _issues(bad) if s == "error"]
    assert any("merge: summarize needs summarizer_model" in m for m in errors)


def test_mcp_tool_servers_are_declared_as_agents_but_answer_no_turns(
    base: dict[str, Any],
) -> None:
    data = _agents(base)
    data["agents"].append(
        {
            "id": "tools",
            "url": "http://127.0.0.1:4",
            "type": "mcp",
            "headers": {"authorization": "Bearer t"},
        }
    )
    config, issues = check_config(data, {})
    assert config is not None, [str(i) for i in issues]
    assert config.agents[2].type == "mcp" and config.agents[0].type == "http"
    assert config.agents[2].headers == {"authorization": "Bearer t"}
    data["listeners"][1]["agents"].append({"id": "tools", "description": "t"})
    assert any(
        "MCP tool server" in text and "/mcp/tools" in text and sev == "error"
        for sev, text in _issues(data)
    )
    data["agents"][2]["type"] = "a2a"
    assert any("type" in text for _, text in _issues(data))
