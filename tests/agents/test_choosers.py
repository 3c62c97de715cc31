from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from plano.agents.choosers import (
    EmbeddingChooser,
    LLMChooser,
    Orchestrator,
    RulesChooser,
    Turn,
)
from plano.agents.orchestrator import AgentCard
from plano.config.agents import AgentRule
from plano.core.model import Message, TextPart
from plano.errors import UpstreamConnectError

AGENTS = [
    AgentCard("weather_agent", "weather forecasts", default=False),
    AgentCard("flight_agent", "flights between airports", default=True),
]


def turn(text: str, **kw: Any) -> Turn:
    return Turn([Message("user", [TextPart(text)])], **kw)


def llm(answer: str | Exception) -> LLMChooser:
    async def complete(model: str, messages: list[Message]) -> str:
        assert model == "orch" and messages[0].role == "user"
        if isinstance(answer, Exception):
            raise answer
        return answer

    return LLMChooser("orch", complete=complete)


class FakeModel:
    """Embeds by keyword: weather -> e0, flight -> e1."""

    def embed(self, texts: Sequence[str], norm: bool = True) -> Any:
        out = []
        for t in texts:
            v = np.array([1.0 if "weather" in t else 0.0, 1.0 if "flight" in t else 0.0, 0.1])
            out.append(v / np.linalg.norm(v))
        return np.array(out)


async def test_single_agent_needs_no_choice() -> None:
    orch = Orchestrator([AGENTS[0]], chooser=llm(RuntimeError("never called")))
    assert (await orch.choose(turn("x"))).agents == ("weather_agent",)


async def test_llm_choice_in_order() -> None:
    orch = Orchestrator(AGENTS, chooser=llm('{"route": ["weather_agent", "flight_agent"]}'))
    choice = await orch.choose(turn("weather and flights"))
    assert choice.agents == ("weather_agent", "flight_agent") and choice.by == "llm"


async def test_unknown_agents_fall_back_to_default() -> None:
    orch = Orchestrator(AGENTS, chooser=llm('{"route": ["hotel_agent"]}'))
    choice = await orch.choose(turn("a hotel"))
    assert choice.agents == ("flight_agent",) and choice.by == "default"
    assert choice.unknown == ("hotel_agent",)


async def test_unreachable_model_uses_backup_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emb = EmbeddingChooser(AGENTS, loader=FakeModel)
    emb.load()
    orch = Orchestrator(AGENTS, chooser=llm(UpstreamConnectError("down")), backup=emb)
    with caplog.at_level(logging.WARNING, "plano.agents"):
        first = await orch.choose(turn("what is the weather in Paris"))
        second = await orch.choose(turn("any flight to Rome"))
    assert first.agents == ("weather_agent",) and first.by == "embedding"
    assert second.agents == ("flight_agent",)
    assert first.note is not None and "llm chooser failed" in first.note
    assert sum("cannot be reached" in r.message for r in caplog.records) == 1


async def test_embedding_not_loaded_takes_default() -> None:
    emb = EmbeddingChooser(AGENTS, loader=FakeModel)
    choice = await Orchestrator(AGENTS, chooser=emb).choose(turn("weather"))
    assert choice.by == "default" and choice.agents == ("flight_agent",)


async def test_rules_match_text_headers_metadata_before_the_chooser() -> None:
    rules = RulesChooser(
        [
            AgentRule(agents=["weather_agent"], headers={"X-Team": "meteo"}),
            AgentRule(agents=["flight_agent", "weather_agent"], contains=["trip"]),
            AgentRule(agents=["weather_agent"], metadata={"topic": "sky"}),
            AgentRule(agents=["flight_agent"], pattern=r"\bIATA\b"),
        ]
    )
    orch = Orchestrator(AGENTS, rules=rules, chooser=llm(RuntimeError("not asked")))
    assert (await orch.choose(turn("hi", headers={"x-team": "meteo"}))).agents == ("weather_agent",)
    assert (await orch.choose(turn("Plan my TRIP"))).agents == ("flight_agent", "weather_agent")
    assert (await orch.choose(turn("hi", metadata={"topic": "sky"}))).by == "rules"
    assert (await orch.choose(turn("code iata"))).agents == ("flight_agent",)
    fallback = await orch.choose(turn("nothing"))  # chooser raises, no backup: default
    assert fallback.by == "default"


async def test_max_agents_caps_the_choice() -> None:
    orch = Orchestrator(
        AGENTS, chooser=llm('{"route": ["weather_agent", "flight_agent"]}'), max_agents=1
    )
    assert (await orch.choose(turn("both"))).agents == ("weather_agent",)


def test_rule_needs_a_condition() -> None:
    with pytest.raises(ValueError, match="needs a condition"):
        AgentRule(agents=["a"])
