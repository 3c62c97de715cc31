"""Checks of agent listeners against the rest of the config: every agent a listener names is
declared, every filter it runs exists, one default at most, rules and the fallback agent name
the listener's agents."""

from __future__ import annotations

import re

from plano.config.issues import ConfigIssue, did_you_mean
from plano.config.schema import Listener, PlanoConfig

__all__ = ["check_agents"]


def check_agents(config: PlanoConfig) -> list[ConfigIssue]:
    agents = {a.id for a in config.agents}
    filters = {f.id for f in config.filters}
    tools = {a.id for a in config.agents if a.type == "mcp"}
    issues: list[ConfigIssue] = []
    for listener in config.listeners:
        if listener.type == "agent":
            issues += _check_listener(listener, agents, filters)
            issues += _check_tool_servers(listener, tools)
    return issues


def _check_tool_servers(listener: Listener, tools: set[str]) -> list[ConfigIssue]:
    """An MCP tool server answers tool calls, not turns: it is called at ``/mcp/{id}``."""
    return [
        ConfigIssue(
            f"{listener.source_path}.agents[{i}].id",
            f"{entry.id!r} is an MCP tool server (type: mcp); it cannot answer turns: "
            f"call its tools at /mcp/{entry.id} on the agent listener",
        )
        for i, entry in enumerate(listener.agents)
        if entry.id in tools
    ]


def _unknown(ident: str, known: set[str], what: str) -> str:
    hint = did_you_mean(ident, known) if known else f"; no {what}s are declared"
    return f"unknown {what} {ident!r}{hint}"


def _check_listener(listener: Listener, agents: set[str], filters: set[str]) -> list[ConfigIssue]:
    at = listener.source_path
    issues: list[ConfigIssue] = []
    if not listener.agents:
        message = "an agent listener without agents answers every turn with 404"
        issues.append(ConfigIssue(f"{at}.agents", message, "warning"))
    defaults = [a.id for a in listener.agents if a.default]
    if len(defaults) > 1:
        message = f"several default agents ({', '.join(defaults)}); the first one is used"
        issues.append(ConfigIssue(f"{at}.agents", message, "warning"))
    seen: set[str] = set()
    for i, entry in enumerate(listener.agents):
        here = f"{at}.agents[{i}]"
        if entry.id not in agents:
            issues.append(ConfigIssue(f"{here}.id", _unknown(entry.id, agents, "agent")))
        if entry.id in seen:
            issues.append(ConfigIssue(f"{here}.id", f"agent {entry.id!r} is listed twice"))
        seen.add(entry.id)
        if entry.filter_chain is not None:
            message = "deprecated; rename it to input_filters"
            issues.append(ConfigIssue(f"{here}.filter_chain", message, "warning"))
        for j, ident in enumerate(entry.input_filters):
            if ident not in filters:
                what = f"{ident!r} is an agent, not a filter" if ident in agents else None
                message = what or _unknown(ident, filters, "filter")
                issues.append(ConfigIssue(f"{here}.input_filters[{j}]", message))
    issues += _check_orchestration(listener, seen, agents)
    return issues


def _check_orchestration(
    listener: Listener, listed: set[str], agents: set[str]
) -> list[ConfigIssue]:
    orch = listener.orchestration
    if orch is None:
        return []
    at = f"{listener.source_path}.orchestration"
    issues: list[ConfigIssue] = []
    for i, rule in enumerate(orch.rules):
        for j, ident in enumerate(rule.agents):
            if ident not in listed:
                message = _unknown(ident, listed, "agent of this listener")
                issues.append(ConfigIssue(f"{at}.rules[{i}].agents[{j}]", message))
        if rule.pattern is not None:
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                issues.append(ConfigIssue(f"{at}.rules[{i}].pattern", f"bad pattern: {exc}"))
    if orch.chooser == "rules" and not orch.rules:
        issues.append(ConfigIssue(f"{at}.rules", "chooser: rules needs at least one rule"))
    if orch.fallback_agent is not None and orch.fallback_agent not in agents:
        message = _unknown(orch.fallback_agent, agents, "agent")
        issues.append(ConfigIssue(f"{at}.fallback_agent", message))
    return issues
