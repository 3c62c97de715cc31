"""Plano's agent orchestrator, as a prompt and an answer format (pure).

The orchestrator model (``Plano-Orchestrator`` or any chat model) gets one user message: the
prompt below with ``<routes>`` (one JSON line per agent, ``{"name": id, "description": ...}``,
spaced as Python's ``json.dumps`` spaces it) and ``<conversation>`` (the conversation as
indented JSON: system, developer, tool and empty messages dropped, at most the last 16, trimmed
to ``orchestrator_model_context_length`` tokens at about 4 characters a token, an overlong user
message cut in the middle). It answers ``{"route": ["agent_a", "agent_b"]}``. The text is
Plano's (``orchestrator_model_v1.rs``), doubled braces included: its model was trained on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plano.core.model import Message, TextPart

__all__ = [
    "MAX_ROUTING_TURNS",
    "ORCHESTRATOR_PROMPT",
    "AgentCard",
    "orchestrator_messages",
    "orchestrator_prompt",
    "parse_route",
]

MAX_ROUTING_TURNS = 16
#: Plano's default context length of the orchestrator model, in tokens.
DEFAULT_CONTEXT_TOKENS = 8192
_CHARS_PER_TOKEN = 4
_TRIM_MARKER = "…"

ORCHESTRATOR_PROMPT = """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{routes}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
{conversation}
</conversation>

## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""


@dataclass(frozen=True, slots=True)
class AgentCard:
    """An agent as choosers see it: its id, what it does, whether it is the default."""

    id: str
    description: str
    default: bool = False


def _trim_middle(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    if max_chars <= len(_TRIM_MARKER):
        return text[-max_chars:] if max_chars > 0 else ""
    keep = max_chars - len(_TRIM_MARKER)
    head = keep // 2
    return text[:head] + _TRIM_MARKER + text[len(text) - (keep - head) :]


def _conversation(messages: Sequence[Message], max_tokens: int) -> list[dict[str, str]]:
    kept = [
        (m.role, m.text())
        for m in messages
        if m.role not in ("system", "developer", "tool") and m.text()
    ][-MAX_ROUTING_TURNS:]
    budget = len(ORCHESTRATOR_PROMPT) // _CHARS_PER_TOKEN
    picked: list[dict[str, str]] = []
    for role, text in reversed(kept):
        need = len(text.encode()) // _CHARS_PER_TOKEN
        if budget + need > max_tokens:
            remaining = max(max_tokens - budget, 0)
            if role == "user" and remaining > 0:
                picked.append({"role": "user", "content": _trim_middle(text, remaining * 4)})
            break
        budget += need
        picked.append({"role": role, "content": text})
    if not picked and kept:
        role, text = kept[-1]
        picked.append({"role": role, "content": text})
    picked.reverse()
    return picked


def orchestrator_prompt(
    agents: Sequence[AgentCard],
    messages: Sequence[Message],
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> str:
    """The one user message Plano sends its orchestrator model."""
    routes = "\n".join(
        json.dumps({"name": a.id, "description": a.description}, ensure_ascii=False) for a in agents
    )
    conversation = json.dumps(_conversation(messages, max_tokens), indent=4, ensure_ascii=False)
    return ORCHESTRATOR_PROMPT.replace("{routes}", routes).replace("{conversation}", conversation)


def orchestrator_messages(
    agents: Sequence[AgentCard],
    messages: Sequence[Message],
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> list[Message]:
    return [Message("user", [TextPart(orchestrator_prompt(agents, messages, max_tokens))])]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _route_value(text: str) -> Any:
    text = _FENCE.sub("", text.strip())
    for candidate in (text, text.replace("{{", "{").replace("}}", "}")):
        match = _OBJECT.search(candidate)
        if match is None:
            continue
        body = match.group(0).replace("'", '"') if "'" in match.group(0) else match.group(0)
        try:
            data = json.loads(body)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data.get("route")
    return None


def parse_route(text: str, known: Sequence[str]) -> tuple[list[str], list[str]]:
    """The agents an orchestrator's answer names, in its order: ``(known ones, unknown
    ones)``. A bare string route is a one-agent list; duplicates are dropped; an empty or
    unreadable answer names none (the caller then takes the default agent)."""
    value = _route_value(text)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return [], []
    ids = {k.lower(): k for k in known}
    picked: list[str] = []
    unknown: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            continue
        agent = ids.get(item.strip().lower())
        if agent is None:
            unknown.append(item.strip()[:100])
        elif agent not in picked:
            picked.append(agent)
    return picked, unknown
