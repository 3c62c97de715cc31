"""Agent-listener turns in the usage log: one record per turn (or MCP call), attributed.

The agents' own model calls go through the model listener and are priced there; a turn
itself costs nothing, so its record costs 0 and counts no tokens (only the usage an
agent reported, when it did). What it adds is attribution: the agent that answered
(``agent``), the agents chosen (``route``), the session, the principal and the trace, so
``/plano/v1/usage?group_by=agent`` and ``plano cost --by agent`` show the orchestration
traffic beside the model traffic it caused (same ``trace_id``).

The ledger outlives snapshots (the runtime starts and closes it): this filter only adds
records to it. A record's id is the turn's own (gateway) request id; the client's
``x-request-id``, which Plano passes on to the agents and their model calls, is kept as
``client_request_id`` beside it, so both the turn and its model calls can be found by it.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import ClassVar

from plano.accounting.filter import attribution
from plano.accounting.ledger import UsageRecord, UsageSink
from plano.pipeline.context import ANONYMOUS, RequestContext
from plano.pipeline.filters import Filter

__all__ = ["AGENT_PROVIDER", "AgentUsageFilter"]

_NOTHING = Decimal(0)
#: The usage log's ``provider`` of an agent turn (``model``: the agent, or ``mcp:<id>``).
AGENT_PROVIDER = "agent"


class AgentUsageFilter(Filter):
    name: ClassVar[str] = "agent_usage"
    rewrites_request: ClassVar[bool] = False

    def __init__(self, ledger: UsageSink) -> None:
        self.ledger = ledger

    async def on_complete(self, ctx: RequestContext) -> None:
        if ctx.parent is not None:  # hops are part of their turn's record
            return
        route = ctx.route or ""
        kind = "mcp" if route.startswith("mcp:") else "agents"
        model = ctx.agent_id or route
        self.ledger.add(
            UsageRecord(
                request_id=ctx.request_id,
                client_request_id=ctx.client_request_id,
                ts=time.time(),
                shape=ctx.shape if kind == "agents" else "mcp",
                model_requested=ctx.model_requested[:200],
                provider=AGENT_PROVIDER,
                model=model[:200],
                status=ctx.status,
                stream=ctx.stream,
                usage=ctx.usage,
                cost=_NOTHING,
                total_ms=ctx.total_ms(),
                overhead_ms=ctx.overhead_ms(),
                ttft_ms=ctx.ttft_ms(),
                attempts=len(ctx.attempts),
                error=ctx.error.metric_label if ctx.error is not None else None,
                principal=None if ctx.principal is ANONYMOUS else ctx.principal.id,
                session=ctx.session_id,
                **attribution(ctx),
            )
        )
