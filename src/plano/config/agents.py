"""Agent orchestration settings beyond Plano's keys (``listeners[].orchestration``, ours).

Plano's own keys (``agents:``, ``listeners[]`` with ``type: agent``, ``router``, per-agent
``description`` / ``default`` / ``input_filters``) live in ``schema.py`` and ``sections.py``.
What Plano lacks is here: which chooser picks agents (its hosted orchestrator model, an offline
embedding chooser, or rules), parallel runs and their merge, per-agent time limits, a fallback
agent, and sessions kept by Plano so a client may send only the new turn.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from plano.config.sections import ConfigModel
from plano.config.units import ByteSize, Duration

__all__ = ["AgentRule", "Orchestration", "SessionSettings"]

#: Plano's header for a conversation's id on agent listeners is none (it keeps no state); ours
#: is shared with the model listener's session affinity.
SESSION_HEADER = "x-plano-session-id"


class AgentRule(ConfigModel):
    """One rule of the ``rules`` chooser: the first rule whose every given condition holds
    picks its agents."""

    agents: list[str] = Field(min_length=1, description="Agent ids to run, in order.")
    contains: list[str] = Field(
        default_factory=list,
        description="Words or phrases; any of them in the last user message (case-insensitive).",
    )
    pattern: str | None = Field(
        default=None, description="A regular expression searched in the last user message."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Request headers that must have these values (names case-insensitive).",
    )
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Request `metadata` entries that must have these values."
    )

    @model_validator(mode="after")
    def _some_condition(self) -> AgentRule:
        if not (self.contains or self.pattern or self.headers or self.metadata):
            raise ValueError("a rule needs a condition: contains, pattern, headers or metadata")
        return self


class SessionSettings(ConfigModel):
    """Conversation context Plano keeps per session id (the state layer's key-value store)."""

    enabled: bool = Field(default=True, description="Keep conversations across turns.")
    header: str = Field(
        default=SESSION_HEADER, description="Request header carrying the session id."
    )
    ttl: Duration = Field(default=3600.0, description="How long an idle session is kept.")
    max_messages: int = Field(
        default=200, ge=2, description="Messages kept per session (the oldest dropped first)."
    )
    max_bytes: ByteSize = Field(
        default=1024 * 1024, description="Stored size per session (the oldest dropped first)."
    )


class Orchestration(ConfigModel):
    """How an agent listener picks and runs agents (ours; Plano has one fixed behaviour)."""

    chooser: Literal["auto", "llm", "embedding", "rules"] = Field(
        default="auto",
        description="auto: the orchestrator model when one is reachable, else embeddings; "
        "llm: the orchestrator model (embeddings if it fails); embedding: offline wordllama; "
        "rules: `rules`, then the default agent.",
    )
    rules: list[AgentRule] = Field(
        default_factory=list,
        description="Rules tried before the chooser (first match wins).",
    )
    mode: Literal["sequence", "parallel"] = Field(
        default="sequence",
        description="sequence: each agent sees the earlier ones' answers (Plano); parallel: "
        "all at once, answers merged.",
    )
    merge: Literal["concat", "summarize"] = Field(
        default="concat", description="How parallel answers become one."
    )
    summarizer_model: str | None = Field(
        default=None, description="Model that merges parallel answers (merge: summarize)."
    )
    agent_timeout: Duration | None = Field(
        default=None, description="Time limit of each agent call (per agent: agents[].timeout)."
    )
    fallback_agent: str | None = Field(
        default=None, description="Agent that answers when the chosen one fails before answering."
    )
    max_agents: int = Field(default=4, ge=1, description="Most agents one turn may run.")
    sessions: SessionSettings = Field(
        default_factory=SessionSettings, description="Conversation context kept by Plano."
    )

    @model_validator(mode="after")
    def _summarizer(self) -> Orchestration:
        if self.merge == "summarize" and not self.summarizer_model:
            raise ValueError("merge: summarize needs summarizer_model")
        return self
