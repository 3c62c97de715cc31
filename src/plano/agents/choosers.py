"""Who answers a turn: agent choosers (a registry) and the :class:`Orchestrator` that runs
them (rules first, then the chooser, then the default agent).

* ``llm``: Plano's orchestrator prompt and answer format, through any configured model (the
  call is injected: the gateway binds it to its own upstream path).
* ``embedding``: offline; wordllama embeds each agent's id and description once, then the last
  user message; the nearest agent wins above a similarity floor.
* ``rules`` (ours): match on the last user message, headers or metadata.

When the LLM chooser cannot answer (the vendor-hosted ``Plano-Orchestrator``, a model that is
down or slow), the embedding chooser answers instead and the log says so once. Pure apart from
the injected model call; no clocks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plano.agents.orchestrator import (
    DEFAULT_CONTEXT_TOKENS,
    AgentCard,
    orchestrator_messages,
    parse_route,
)
from plano.config.agents import AgentRule
from plano.core.model import Message
from plano.routing.preference import EmbeddingRouteChooser, Route, load_wordllama

__all__ = [
    "CHOOSERS",
    "AgentChooser",
    "Choice",
    "EmbeddingChooser",
    "LLMChooser",
    "Orchestrator",
    "RulesChooser",
    "Turn",
    "compile_rules",
]

log = logging.getLogger("plano.agents")

Complete = Callable[[str, list[Message]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Turn:
    """What choosers read of a turn."""

    messages: Sequence[Message]
    headers: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)

    def last_user_text(self) -> str:
        return next((m.text() for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True, slots=True)
class Choice:
    """The agents that answer a turn, in order, and who chose them."""

    agents: tuple[str, ...]
    #: ``single``, ``rules``, ``llm``, ``embedding``, ``default``.
    by: str
    #: Names an orchestrator answered that no agent of the listener has.
    unknown: tuple[str, ...] = ()
    #: Why the preferred chooser did not decide (its failure), when it did not.
    note: str | None = None


class AgentChooser(Protocol):
    name: str

    async def choose(self, turn: Turn, agents: Sequence[AgentCard]) -> Choice | None:
        """The agents for ``turn``, or ``None`` when this chooser has no answer."""
        ...


# ---------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class _Rule:
    agents: tuple[str, ...]
    words: tuple[str, ...]
    pattern: re.Pattern[str] | None
    headers: tuple[tuple[str, str], ...]
    metadata: tuple[tuple[str, str], ...]

    def matches(self, turn: Turn, text: str) -> bool:
        if self.words and not any(w in text for w in self.words):
            return False
        if self.pattern is not None and self.pattern.search(text) is None:
            return False
        if any(turn.headers.get(k) != v for k, v in self.headers):
            return False
        return all(turn.metadata.get(k) == v for k, v in self.metadata)


def compile_rules(rules: Sequence[AgentRule]) -> tuple[_Rule, ...]:
    return tuple(
        _Rule(
            tuple(r.agents),
            tuple(w.lower() for w in r.contains),
            re.compile(r.pattern, re.IGNORECASE) if r.pattern else None,
            tuple((k.lower(), v) for k, v in r.headers.items()),
            tuple(r.metadata.items()),
        )
        for r in rules
    )


class RulesChooser:
    """The first rule whose conditions all hold (ours). Synchronous at heart: no IO."""

    name = "rules"

    def __init__(self, rules: Sequence[AgentRule]) -> None:
        self.rules = compile_rules(rules)

    def pick(self, turn: Turn) -> Choice | None:
        text = turn.last_user_text().lower()
        for rule in self.rules:
            if rule.matches(turn, text):
                return Choice(rule.agents, "rules")
        return None

    async def choose(self, turn: Turn, agents: Sequence[AgentCard]) -> Choice | None:
        return self.pick(turn)


# ---------------------------------------------------------------------------- embedding


class EmbeddingChooser:
    """The nearest agent by wordllama similarity (offline). Until :meth:`load` has run (in a
    thread at start-up) it has no answer, and the default agent takes the turn."""

    name = "embedding"

    def __init__(
        self,
        agents: Sequence[AgentCard],
        *,
        min_similarity: float = 0.2,
        loader: Callable[[], Any] = load_wordllama,
    ) -> None:
        routes = [Route(a.id, a.description, ()) for a in agents]
        self.inner = EmbeddingRouteChooser(routes, min_similarity=min_similarity, loader=loader)

    @property
    def loaded(self) -> bool:
        return self.inner.loaded

    def load(self) -> None:
        self.inner.load()

    def pick(self, turn: Turn) -> Choice | None:
        if not self.inner.loaded:
            return None
        query = turn.last_user_text().strip()
        if not query:
            return None
        best, name = self.inner.scores(query[-2000:])[0]
        return Choice((name,), "embedding") if best >= self.inner.min_similarity else None

    async def choose(self, turn: Turn, agents: Sequence[AgentCard]) -> Choice | None:
        return self.pick(turn)


# ---------------------------------------------------------------------------- llm


class LLMChooser:
    """Plano's orchestrator: its prompt to ``model`` through ``complete`` (bound by the
    gateway), its ``{"route": [...]}`` answer parsed. Errors propagate: the orchestrator
    decides what replaces this chooser."""

    name = "llm"

    def __init__(
        self,
        model: str,
        *,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        complete: Complete | None = None,
    ) -> None:
        self.model = model
        self.context_tokens = context_tokens
        self.complete = complete

    async def choose(self, turn: Turn, agents: Sequence[AgentCard]) -> Choice | None:
        if self.complete is None:
            raise RuntimeError("the orchestrator is not bound to a gateway")
        prompt = orchestrator_messages(agents, turn.messages, self.context_tokens)
        answer = await self.complete(self.model, prompt)
        picked, unknown = parse_route(answer, [a.id for a in agents])
        if not picked:
            return Choice((), "llm", tuple(unknown)) if unknown else None
        return Choice(tuple(picked), "llm", tuple(unknown))


#: Chooser types by the config's ``orchestration.chooser`` (``auto`` picks one of them).
CHOOSERS: Mapping[str, type[AgentChooser]] = {
    "llm": LLMChooser,
    "embedding": EmbeddingChooser,
    "rules": RulesChooser,
}


# ---------------------------------------------------------------------------- orchestrator


class Orchestrator:
    """Picks the agents of a turn: one agent needs no choice; then the rules; then the
    chooser, with ``backup`` when it fails; an empty or unknown answer takes the default agent
    (the one marked ``default``, else the first). At most ``max_agents``."""

    def __init__(
        self,
        agents: Sequence[AgentCard],
        *,
        rules: RulesChooser | None = None,
        chooser: AgentChooser | None = None,
        backup: AgentChooser | None = None,
        max_agents: int = 4,
    ) -> None:
        self.agents = tuple(agents)
        self.rules = rules
        self.chooser = chooser
        self.backup = backup
        self.max_agents = max_agents
        first = agents[0].id if agents else ""
        self.default = next((a.id for a in agents if a.default), first)
        self._warned = False

    async def choose(self, turn: Turn) -> Choice:
        if not self.agents:
            return Choice((), "none")
        if len(self.agents) == 1:
            return Choice((self.agents[0].id,), "single")
        if self.rules is not None:
            ruled = self.rules.pick(turn)
            if ruled is not None:
                return self._capped(ruled)
        note: str | None = None
        unknown: tuple[str, ...] = ()
        picked = None
        if self.chooser is not None:
            try:
                picked = await self.chooser.choose(turn, self.agents)
            except Exception as exc:  # any failure of the model call: never the client's 500
                note = f"{self.chooser.name} chooser failed: {type(exc).__name__}"
                self._warn_once(exc)
                if self.backup is not None:
                    picked = await self.backup.choose(turn, self.agents)
        if picked is not None and picked.agents:
            return self._capped(Choice(picked.agents, picked.by, picked.unknown, note))
        if picked is not None:
            unknown = picked.unknown
        return Choice((self.default,), "default", unknown, note)

    def _capped(self, choice: Choice) -> Choice:
        if len(choice.agents) <= self.max_agents:
            return choice
        return Choice(choice.agents[: self.max_agents], choice.by, choice.unknown, choice.note)

    def _warn_once(self, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        model = getattr(self.chooser, "model", "?")
        backup = self.backup.name if self.backup is not None else "the default agent"
        log.warning(
            "the agent orchestrator model %r cannot be reached (%s: %s); choosing agents with "
            "%s instead (said once)",
            model,
            type(exc).__name__,
            str(exc)[:200],
            backup,
        )
