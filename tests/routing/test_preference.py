"""Preference routing: the router prompt and answer format, the LLM router's time limit and
failures (default route, never an error), the offline embedding router, and prefer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from tests.routing.smart_support import ctx, names, request, router

from plano.core.model import Message, TextPart
from plano.routing import metrics as m
from plano.routing.preference import (
    EmbeddingRouteChooser,
    LLMRouteChooser,
    Route,
    conversation_text,
    parse_answer,
    router_messages,
)
from plano.routing.router import Plan

ROUTES = [Route("code", "writing code", ()), Route("chat", "small talk", ())]

PREFS = [
    {
        "name": "code generation",
        "description": "writing new code, functions or scripts",
        "models": ["openai/gpt-4o", "mini-a"],
        "selection_policy": {"prefer": "cheapest"},
    },
    {"name": "small talk", "description": "greetings and casual chat", "models": ["mini-b"]},
]


@pytest.mark.parametrize(
    ("answer", "route"),
    [
        ('{"route": "code"}', "code"),
        ('```json\n{"route": "Chat"}\n```', "chat"),
        ('Sure! {"route": "code"} is my pick', "code"),
        ("code", "code"),
        ('"chat".', "chat"),
        ('{"route": "other"}', None),
        ('{"route": "weather"}', None),
        ("I cannot decide", None),
        ('{"route": 3}', None),
    ],
)
def test_parse_answer(answer: str, route: str | None) -> None:
    assert parse_answer(answer, ROUTES) == route


def test_router_prompt_lists_routes_and_the_conversation() -> None:
    msgs = router_messages(ROUTES, "user: hi")
    system, user = msgs[0].text(), msgs[1].text()
    assert '{"name":"code","description":"writing code"}' in system
    assert '{"route": "<route name>"}' in system and '"other"' in system
    assert user == "<conversation>\nuser: hi\n</conversation>"


def test_conversation_text_keeps_the_newest_turns_and_skips_system() -> None:
    msgs = [
        Message("system", [TextPart("secret prompt")]),
        Message("user", [TextPart("first " * 50)]),
        Message("assistant", [TextPart("reply")]),
        Message("user", [TextPart("latest question")]),
    ]
    text = conversation_text(msgs, user_only=False, max_chars=100)
    assert text == "assistant: reply\nuser: latest question"
    assert conversation_text(msgs, user_only=True, max_chars=100) == "user: latest question"
    assert "secret" not in conversation_text(msgs, user_only=False, max_chars=10_000)


class Canned:
    def __init__(self, answer: str | None = None, delay: float = 0.0, fail: bool = False) -> None:
        self.answer, self.delay, self.fail = answer, delay, fail
        self.calls = 0

    async def __call__(self, model: str, messages: list[Message]) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("router model down")
        return self.answer or ""


def llm_router(complete: Canned, **extra: object) -> object:
    r = router(
        routing_preferences=PREFS,
        preference_router={"model": "groq/llama-3.3-70b-versatile", "timeout": "200ms", **extra},
    )
    assert isinstance(r.chooser, LLMRouteChooser)
    r.chooser.complete = complete
    return r


async def plan_of(r: object, req: object, headers: dict[str, str] | None = None) -> Plan:
    p = r.plan(ctx(req, headers))  # type: ignore[attr-defined]
    return p if isinstance(p, Plan) else await p


async def test_llm_router_picks_a_route_and_prefer_orders_its_models() -> None:
    r = llm_router(Canned('{"route": "code generation"}'))
    p = await plan_of(r, request("mini-a", "write a python function"))
    assert p.route == "code generation"
    assert names(p) == ["mini-a", "openai/gpt-4o"]  # cheapest first


async def test_llm_router_time_out_takes_the_default_route() -> None:
    complete = Canned('{"route": "code generation"}', delay=5)
    r = llm_router(complete, default_route="small talk")
    p = await plan_of(r, request("mini-a", "write code"))
    assert p.route == "small talk" and names(p) == ["mini-b"]
    assert r.counters.get(m.ROUTER_FAILURES, reason="timeout") == 1  # type: ignore[attr-defined]


async def test_llm_router_failure_without_default_keeps_the_requested_model() -> None:
    r = llm_router(Canned(fail=True))
    p = await plan_of(r, request("openai/gpt-4o", "write code"))
    assert p.route is None and names(p) == ["openai/gpt-4o"]
    assert r.counters.get(m.ROUTER_FAILURES, reason="error") == 1  # type: ignore[attr-defined]


async def test_no_matching_route_keeps_the_requested_model() -> None:
    r = llm_router(Canned('{"route": "other"}'))
    p = await plan_of(r, request("openai/gpt-4o", "what's the weather"))
    assert p.route is None and names(p) == ["openai/gpt-4o"]


async def test_a_session_keeps_its_route_without_asking_again() -> None:
    complete = Canned('{"route": "small talk"}')
    r = llm_router(complete)
    headers = {"x-model-affinity": "conv-9"}
    p = await plan_of(r, request("mini-a", "hi"), headers)
    assert p.tracker is not None
    p.tracker.succeeded(p.deployments[0])
    again = await plan_of(r, request("mini-a", "tell me more"), headers)
    assert again.route == "small talk" and complete.calls == 1


async def test_rules_win_over_preferences_and_apply_to_limits_them() -> None:
    complete = Canned('{"route": "code generation"}')
    r = llm_router(complete, apply_to=["auto"])
    r.tables.rules = []  # type: ignore[attr-defined]
    p = await plan_of(r, request("mini-b", "write code"))
    assert p.route is None and complete.calls == 0
    p = await plan_of(r, request("auto", "write code"))
    assert p.route == "code generation" and complete.calls == 1


def test_embedding_router_is_chosen_without_a_router_model() -> None:
    r = router(routing_preferences=PREFS)
    assert isinstance(r.chooser, EmbeddingRouteChooser)


SIX = [
    Route("code generation", "writing new code, functions, scripts or programs", ()),
    Route("debugging", "finding and fixing bugs, errors, exceptions and stack traces", ()),
    Route("translation", "translating text from one language to another", ()),
    Route("summarization", "summarizing long documents, articles or meeting notes", ()),
    Route("math", "solving mathematics problems, equations, algebra and arithmetic", ()),
    Route("creative writing", "writing stories, poems, fiction and creative content", ()),
]


@pytest.fixture(scope="module")
def embedder() -> EmbeddingRouteChooser:
    chooser = EmbeddingRouteChooser(SIX, min_similarity=0.2)
    chooser.load()  # the weights ship in the wordllama wheel: no network
    return chooser


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Write a Python function that sorts a list of dictionaries by key", "code generation"),
        ("I get a KeyError traceback when running my script, how do I fix it?", "debugging"),
        ("Translate 'good morning, how are you' into Spanish", "translation"),
        ("Can you summarize this article in three bullet points?", "summarization"),
        ("Solve for x: 3x + 7 = 22", "math"),
        ("Write a short poem about the ocean at night", "creative writing"),
        ("My program crashes with a segmentation fault", "debugging"),
        ("Give me a brief summary of the meeting notes below", "summarization"),
        ("hello, how's the weather?", None),
    ],
)
async def test_embedding_router_on_six_routes(
    embedder: EmbeddingRouteChooser, text: str, route: str | None
) -> None:
    msgs: Sequence[Message] = [Message("user", [TextPart(text)])]
    assert await embedder.choose(msgs, SIX) == route


async def test_embedding_router_answers_none_until_loaded() -> None:
    chooser = EmbeddingRouteChooser(SIX)
    assert await chooser.choose([Message("user", [TextPart("write code")])], SIX) is None
