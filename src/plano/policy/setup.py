"""The policy filter a config asks for: :func:`policy_filter` (``None`` when the config has
no ``policies`` and no ``tool_rules``, so a gateway without them pays nothing)."""

from __future__ import annotations

import time
from collections.abc import Callable

from plano.config.names import config_names
from plano.config.policy_checks import loaded_policies
from plano.config.schema import PlanoConfig
from plano.policy.counters import SessionToolCalls
from plano.policy.engine import PolicyEngine
from plano.policy.filter import AnswerPolicyFilter, PolicyFilter
from plano.policy.input import SpendReader
from plano.policy.tools import ToolRules
from plano.store.protocols import Counters

__all__ = ["policy_filter"]


def policy_filter(
    config: PlanoConfig,
    *,
    counters: Counters | None = None,
    spend: SpendReader | None = None,
    clock: Callable[[], float] = time.time,
) -> PolicyFilter | None:
    """The filter running ``config``'s policies and tool rules. ``counters``: the hot store
    (session tool-call counts; in this process without it). ``spend``: what a principal
    has spent so far, for ``input.spend`` (``null`` without it)."""
    loaded = loaded_policies(config)
    if not loaded and not config.tool_rules:
        return None
    engine = PolicyEngine(loaded)
    tools = ToolRules(config.tool_rules)
    sessions = SessionToolCalls(counters) if engine.session_counters else None
    if not engine.reads_spend:
        spend = None  # no policy looks at it: no read of the budgets' counters per request
    answers = engine.active("response") or tools.covers("called")
    kind = AnswerPolicyFilter if answers else PolicyFilter
    pools = frozenset(config.model_pools)
    return kind(engine, tools, config_names(config), pools, sessions, spend, clock)
