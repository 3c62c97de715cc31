"""Keys Plano defines that Plano-for-Python accepts but does not act on yet.

They are reported (severity ``unsupported``), never silently ignored: a user moving from Plano
must see which of their settings have no effect here. The whole list is the one table below;
a feature that lands deletes its rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from plano.config.issues import ConfigIssue, format_path

__all__ = ["UNSUPPORTED", "UNSUPPORTED_MESSAGE", "find_unsupported"]

UNSUPPORTED_MESSAGE = "accepted, not supported yet"

#: Dotted key paths as written in the file. ``[]`` is any list item; ``[type=agent]`` a list
#: item whose ``type`` is ``agent``. ``True``: the key and everything under it is accepted but
#: not supported yet. ``False``: supported, although it sits inside an unsupported section.
UNSUPPORTED: Mapping[str, bool] = MappingProxyType(
    {
        "listeners[type=agent]": False,
        "listeners[type=prompt]": True,
        "listeners[].router": True,
        "listeners[].agents": True,
        "listeners.ingress_traffic": True,
        "model_providers[].http_host": True,
        "llm_providers[].http_host": True,
        "endpoints": True,
        "prompt_targets": True,
        "routing": True,
        "routing.model": False,
        "routing.llm_provider": False,
        "routing.session_ttl_seconds": False,
        "routing.session_max_entries": False,
        "routing.route_on_user_only": False,
        "routing.session_cache": False,
        "prompt_caching": True,
        "tracing.exporters": True,
        "tracing.trace_arch_internal": True,
        "overrides": True,
        "overrides.upstream_connect_timeout": False,
        "overrides.llm_routing_model": False,
        "overrides.disable_signals": False,
        "overrides.agent_orchestration_model": False,
        "overrides.orchestrator_model_context_length": False,
        "system_prompt": True,
        "mode": True,
        "prompt_guards": True,
    }
)


def find_unsupported(data: object) -> list[ConfigIssue]:
    """One ``unsupported`` issue per key of ``data`` (the parsed file) listed in the table.

    Empty values (null, ``[]``, ``{}``) are not reported: they ask for nothing.
    """
    issues: list[ConfigIssue] = []
    _walk(data, "", [], False, issues)
    return issues


def _walk(
    node: object, base: str, parts: list[str | int], inside: bool, out: list[ConfigIssue]
) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{base}.{key}" if base else str(key)
            _visit(value, [child], child, [*parts, str(key)], inside, out)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            child = f"{base}[]"
            patterns = [child]
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                patterns.append(f"{base}[type={item['type']}]")
            _visit(item, patterns, child, [*parts, index], inside, out)


def _visit(
    value: object,
    patterns: list[str],
    base: str,
    parts: list[str | int],
    inside: bool,
    out: list[ConfigIssue],
) -> None:
    if value is None or value == [] or value == {}:
        return
    flags = [UNSUPPORTED[pattern] for pattern in patterns if pattern in UNSUPPORTED]
    if False in flags:
        return
    inside = inside or True in flags
    if inside and not _has_supported_child(base):
        out.append(ConfigIssue(format_path(parts), UNSUPPORTED_MESSAGE, "unsupported"))
        return
    _walk(value, base, parts, inside, out)


def _has_supported_child(base: str) -> bool:
    return any(
        not unsupported and (path.startswith(f"{base}.") or path.startswith(f"{base}["))
        for path, unsupported in UNSUPPORTED.items()
    )
