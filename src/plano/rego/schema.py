"""The contract between Plano and a policy: where decisions live, which rules are read, and
the input document (one documented example, :func:`sample_input`).

Decision packages are ``plano`` and every package under it (``package plano.support``); the
rules Plano reads in each are :data:`DECISION_RULES`. Other packages are libraries a policy
may import. ``docs/policies.md`` documents every field; ``plano.policy.input`` builds the
document for a request and its tests hold it to this example's keys and types.
"""

from __future__ import annotations

import copy
from typing import Any, Final, Literal, TypeAlias

__all__ = ["DECISION_ROOT", "DECISION_RULES", "PHASES", "Phase", "sample_input"]

#: Decision packages are ``data.plano`` and below.
DECISION_ROOT: Final = "plano"

#: The rules Plano reads in a decision package (any other rule is a helper).
DECISION_RULES: Final = (
    "deny",
    "redact",
    "route",
    "cap_max_tokens",
    "strip_tools",
    "strip_tool_calls",
)

Phase: TypeAlias = Literal["request", "response"]
#: ``request``: before routing (``on_request``); ``response``: the answer, before the client
#: sees its tool calls.
PHASES: Final[tuple[Phase, ...]] = ("request", "response")

_SAMPLE: Final[dict[str, Any]] = {
    "phase": "request",
    "principal": {
        "id": "key_support_bot",
        "kind": "key",
        "user": "alice",
        "team": "support",
        "tenant": "acme",
        "tags": ["beta"],
    },
    "listener": "llm",
    "hop": "client",
    "agent": "support",
    "session": {"id": "sess-42", "tool_calls": 3},
    "request": {
        "shape": "openai_chat",
        "model": "gpt-4o-mini",
        "resolved": {"name": "openai/gpt-4o-mini", "provider": "openai", "model": "gpt-4o-mini"},
        "stream": False,
        "max_tokens": 512,
        "temperature": None,
        "messages": [
            {"role": "system", "chars": 120, "images": 0, "tool_calls": 0},
            {"role": "user", "chars": 48, "images": 0, "tool_calls": 0},
        ],
        "message_count": 2,
        "chars": 168,
        "images": 0,
        "estimated_tokens": 51,
        "tool_choice": "auto",
    },
    "deployment": None,
    "tools": ["get_weather", "db_read", "db_write"],
    "tool_calls": [],
    "spend": None,
    "time": {"iso": "2026-12-02T10:00:00Z", "epoch": 1796205600.0, "epoch_ns": 1796205600000000000},
}

_RESPONSE: Final[dict[str, Any]] = {
    "phase": "response",
    "deployment": {"name": "openai/gpt-4o-mini", "provider": "openai", "model": "gpt-4o-mini"},
    "tool_calls": [
        {
            "id": "call_1",
            "name": "db_write",
            "arguments": {"sql": "DELETE FROM users"},
            "choice": 0,
        }
    ],
}


def sample_input(phase: Phase = "request") -> dict[str, Any]:
    """A complete input document (a fresh copy) for ``phase``: the documented example, what
    ``plano validate`` evaluates a policy over, and the base of ``plano policy test`` cases."""
    doc = copy.deepcopy(_SAMPLE)
    if phase == "response":
        doc.update(copy.deepcopy(_RESPONSE))
    return doc
