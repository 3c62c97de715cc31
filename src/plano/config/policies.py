"""The ``policies:`` and ``tool_rules:`` sections (Plano-for-Python's own keys).

``policies`` lists Rego policies, from files (``path``, a file or a glob relative to the
config file's folder) or inline (``name`` + ``rego``), each with its settings: whether a run
time error denies (``on_error``), whether the input document carries message text
(``include_text``), the phases it runs in, and whether it reads the session's tool-call
count. ``tool_rules`` are allow/deny lists of tools per key, user, team, tenant, agent or
listener for the common cases, without Rego. ``docs/policies.md`` documents both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from plano.config.sections import ConfigModel
from plano.rego import Module

__all__ = ["LoadedPolicy", "PolicyEntry", "PolicyPhase", "ToolMatch", "ToolRule"]

PolicyPhase: TypeAlias = Literal["request", "response"]
_BOTH: tuple[PolicyPhase, ...] = ("request", "response")


class PolicyEntry(ConfigModel):
    """One policy: a file, a glob of files, or an inline module."""

    path: str | None = Field(
        default=None,
        description="A .rego file or a glob ('policies/*.rego'), relative to the config file's "
        "folder. Files ending in _test.rego hold tests (plano policy test) and are not loaded.",
    )
    name: str | None = Field(
        default=None,
        description="The policy's name in decisions, logs and errors; required with 'rego' "
        "(default for files: the path).",
    )
    rego: str | None = Field(default=None, description="An inline Rego module.")
    on_error: Literal["open", "closed"] = Field(
        default="closed",
        description="When evaluation fails at run time: 'closed' denies the request (403), "
        "'open' ignores this policy for the request. Either way it is counted and logged.",
    )
    include_text: bool = Field(
        default=False,
        description="Put the messages' text in the input document (request.messages[].text). "
        "Off by default: policies see roles, sizes and a token estimate.",
    )
    phases: list[PolicyPhase] = Field(
        default_factory=lambda: list(_BOTH),
        min_length=1,
        description="When the policy runs: 'request' (before routing) and/or 'response' (the "
        "answer and its tool calls, before the client sees them). A response phase makes "
        "streams rendered by Plano instead of relayed byte for byte.",
    )
    session_counters: bool = Field(
        default=False,
        description="Count tool calls per session (x-plano-session-id) in the hot store and "
        "put the count in input.session.tool_calls.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> PolicyEntry:
        if (self.path is None) == (self.rego is None):
            raise ValueError("give either 'path' (files) or 'rego' (an inline module)")
        if self.rego is not None and not self.name:
            raise ValueError("an inline policy ('rego') needs a 'name'")
        return self

    @property
    def label(self) -> str:
        """How decisions and errors name the policy."""
        return self.name or self.path or ""


class ToolMatch(ConfigModel):
    """Who a tool rule applies to: every listed field must match (an empty match: everyone).
    Each field takes one value or a list; values may be globs (``team-*``)."""

    key: list[str] = Field(default_factory=list, description="Principal ids (virtual keys).")
    user: list[str] = Field(default_factory=list, description="Principals' users.")
    team: list[str] = Field(default_factory=list, description="Principals' teams.")
    tenant: list[str] = Field(default_factory=list, description="Principals' tenants.")
    tag: list[str] = Field(default_factory=list, description="Any of the principal's tags.")
    agent: list[str] = Field(default_factory=list, description="The agent the hop serves.")
    listener: list[str] = Field(default_factory=list, description="Listener names.")

    @field_validator("key", "user", "team", "tenant", "tag", "agent", "listener", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ToolRule(ConfigModel):
    """Allow/deny lists of tool names (globs) for the requests ``match`` selects."""

    name: str | None = Field(
        default=None, description="Name in decisions (default: tool_rules[i])."
    )
    match: ToolMatch = Field(default_factory=ToolMatch, description="Who the rule applies to.")
    allow: list[str] = Field(
        default_factory=list,
        description="Only these tools (globs) are allowed; empty: every tool not denied.",
    )
    deny: list[str] = Field(default_factory=list, description="Tools (globs) never allowed.")
    apply_to: Literal["offered", "called", "both"] = Field(
        default="both",
        description="'offered': tools in the request; 'called': tool calls in the answer.",
    )
    action: Literal["strip", "block"] = Field(
        default="strip",
        description="'strip' removes the tool (or call) and goes on; 'block' refuses the "
        "request (403 in the client's API; in a stream, an error event before the call).",
    )

    @model_validator(mode="after")
    def _lists(self) -> ToolRule:
        if not self.allow and not self.deny:
            raise ValueError("a tool rule needs 'allow' or 'deny'")
        return self


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """One ``policies:`` entry with its modules' text, as validated."""

    index: int
    entry: PolicyEntry
    #: The modules served (file paths as the config wrote them, or ``policies[i].rego``).
    modules: tuple[Module, ...]
    #: ``*_test.rego`` modules: ``plano policy test`` only.
    tests: tuple[Module, ...] = ()
    #: The policy files on disk (where ``plano policy test`` looks for case tables).
    files: tuple[Path, ...] = ()

    @property
    def source_path(self) -> str:
        return f"policies[{self.index}]"

    @property
    def name(self) -> str:
        return self.entry.label
