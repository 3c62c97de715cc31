"""The turn being answered, in a context variable: every LLM, tool and agent call made while
answering it carries its ids (a child ``traceparent`` of the incoming one, the request id and
the session id), whichever task or client makes the call."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "SESSION_HEADER",
    "Turn",
    "agent_token",
    "child_traceparent",
    "current_turn",
    "plano_url",
    "propagation_headers",
    "turn_from_headers",
]

SESSION_HEADER = "x-plano-session-id"


@dataclass(frozen=True, slots=True)
class Turn:
    """One incoming conversation turn's identity."""

    request_id: str | None = None
    session_id: str | None = None
    traceparent: str | None = None
    #: The agent Plano routed the turn to (``x-arch-upstream``).
    agent: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


current_turn: ContextVar[Turn | None] = ContextVar("plano_turn", default=None)


def turn_from_headers(headers: Mapping[str, str]) -> Turn:
    """From the request Plano sent (header names in any case)."""
    lower = {k.lower(): v for k, v in headers.items()}
    return Turn(
        request_id=lower.get("x-request-id"),
        session_id=lower.get(SESSION_HEADER),
        traceparent=lower.get("traceparent"),
        agent=lower.get("x-arch-upstream"),
        headers=lower,
    )


def child_traceparent(parent: str | None) -> str:
    """A ``traceparent`` for an outgoing call: the parent's trace id and flags with a new
    span id (a new trace when there is no valid parent)."""
    parts = parent.split("-") if parent else []
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return f"{parts[0]}-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def propagation_headers(turn: Turn | None = None) -> dict[str, str]:
    """Headers for an outgoing call made while answering ``turn`` (default: the current
    one); empty outside a turn."""
    turn = turn or current_turn.get()
    if turn is None:
        return {}
    out = {"traceparent": child_traceparent(turn.traceparent)}
    if turn.request_id:
        out["x-request-id"] = turn.request_id
    if turn.session_id:
        out[SESSION_HEADER] = turn.session_id
    return out


def plano_url(env: Mapping[str, str] | None = None) -> str:
    """Plano's model listener (``PLANO_URL``, set by ``plano up`` for agents it runs)."""
    env = os.environ if env is None else env
    return env.get("PLANO_URL", "http://127.0.0.1:12000").rstrip("/")


def agent_token(env: Mapping[str, str] | None = None) -> str | None:
    """This agent's token for pub/sub (``PLANO_AGENT_TOKEN``, set by ``plano up``)."""
    env = os.environ if env is None else env
    return env.get("PLANO_AGENT_TOKEN") or env.get("PLANO_API_KEY")
