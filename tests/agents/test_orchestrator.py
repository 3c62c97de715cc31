from __future__ import annotations

import json

from plano.agents.orchestrator import (
    MAX_ROUTING_TURNS,
    ORCHESTRATOR_PROMPT,
    AgentCard,
    orchestrator_prompt,
    parse_route,
)
from plano.core.model import Message, TextPart


def msg(role: str, text: str) -> Message:
    return Message(role, [TextPart(text)])  # type: ignore[arg-type]


AGENTS = [AgentCard("weather_agent", "weather"), AgentCard("flight_agent", "flights")]


def _conversation(prompt: str) -> list[dict[str, str]]:
    inner = prompt.split("<conversation>\n", 1)[1].split("\n</conversation>", 1)[0]
    return json.loads(inner)  # type: ignore[no-any-return]


def test_prompt_holds_routes_as_spaced_json_lines_and_plano_text() -> None:
    prompt = orchestrator_prompt(AGENTS, [msg("user", "hi")])
    assert '{"name": "weather_agent", "description": "weather"}\n{"name": "flight_agent"' in prompt
    assert '{{"route": ["route_name_1", "route_name_2", "..."]}}' in prompt  # Plano's literal
    assert prompt.startswith(ORCHESTRATOR_PROMPT.split("{routes}")[0])


def test_conversation_drops_system_tool_and_empty_and_keeps_last_16() -> None:
    messages = [msg("system", "be nice"), msg("tool", "x"), msg("assistant", "")]
    messages += [msg("user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(40)]
    conv = _conversation(orchestrator_prompt(AGENTS, messages))
    assert len(conv) == MAX_ROUTING_TURNS
    assert conv[-1] == {"role": "assistant", "content": "m39"}
    assert all(c["role"] in ("user", "assistant") for c in conv)


def test_long_user_message_is_cut_in_the_middle() -> None:
    text = "A" * 50_000 + "Z" * 50_000
    conv = _conversation(orchestrator_prompt(AGENTS, [msg("user", text)], max_tokens=1000))
    content = conv[0]["content"]
    assert "…" in content and content.startswith("A") and content.endswith("Z")
    assert len(content) < 4000


def test_parse_route_known_unknown_and_formats() -> None:
    known = ["weather_agent", "flight_agent"]
    assert parse_route('{"route": ["flight_agent", "weather_agent"]}', known) == (
        ["flight_agent", "weather_agent"],
        [],
    )
    assert parse_route('```json\n{"route": ["nope", "Weather_Agent"]}\n```', known) == (
        ["weather_agent"],
        ["nope"],
    )
    assert parse_route('{{"route": ["flight_agent"]}}', known) == (["flight_agent"], [])
    assert parse_route('{"route": "flight_agent"}', known) == (["flight_agent"], [])
    assert parse_route('{"route": []}', known) == ([], [])
    assert parse_route("no idea", known) == ([], [])
    assert parse_route("", known) == ([], [])
