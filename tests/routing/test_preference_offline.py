"""The preference router offline: the vendor-hosted router model is never called (embeddings
choose), and a router model that fails hands over to the embedding chooser, said once."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from tests.routing.smart_support import request, router

from plano.core.model import Message
from plano.routing import metrics as m
from plano.routing.preference import EmbeddingRouteChooser, LLMRouteChooser, Route

PREFS = [
    {"name": "code", "description": "writing code", "models": ["openai/gpt-4o"]},
    {"name": "chat", "description": "small talk", "models": ["mini-a"]},
]


class Fixed:
    """An embedding chooser stand-in answering one route."""

    def __init__(self, name: str) -> None:
        self.name, self.calls = name, 0

    async def choose(self, messages: Sequence[Message], routes: Sequence[Route]) -> str | None:
        self.calls += 1
        return self.name


@pytest.mark.parametrize("model", ["Plano-Orchestrator", "plano/Plano-Orchestrator"])
def test_hosted_router_is_never_called(model: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        r = router(routing_preferences=PREFS, overrides={"llm_routing_model": model})
    assert isinstance(r.chooser, EmbeddingRouteChooser) and r.backup is None


def test_a_declared_router_model_has_embeddings_behind_it() -> None:
    r = router(routing_preferences=PREFS, overrides={"llm_routing_model": "mini-b"})
    assert isinstance(r.chooser, LLMRouteChooser)
    assert isinstance(r.backup, EmbeddingRouteChooser)


async def test_a_failing_router_model_hands_over_to_embeddings_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = router(routing_preferences=PREFS, preference_router={"model": "mini-b"})

    async def down(_model: str, _messages: list[Message]) -> str:
        raise ConnectionError("no route to host")

    assert isinstance(r.chooser, LLMRouteChooser)
    r.chooser.complete = down
    backup = Fixed("chat")
    r.backup = backup
    with caplog.at_level(logging.WARNING, logger="plano.routing"):
        for _ in range(3):
            assert await r.choose_route(request("x", "hello there")) == "chat"
    assert backup.calls == 3
    assert r.counters.get(m.ROUTER_FAILURES, reason="error") == 3
    told = [rec for rec in caplog.records if "embedding router decides" in rec.getMessage()]
    assert len(told) == 1
