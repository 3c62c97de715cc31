"""The policy filter in a gateway in front of the simulated providers: every decision kind,
in the OpenAI and Anthropic shapes, streams included; errors failing closed or open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.config import check_config
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.policy import AnswerPolicyFilter, PolicyFilter
from plano.server.runner import build_gateway
from plano.sim import SimServer

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def anthropic_tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }


def chat(text: str = "hello", **kw: Any) -> dict[str, Any]:
    return {"model": "openai-up", "messages": [{"role": "user", "content": text}], **kw}


def messages(text: str = "hello", **kw: Any) -> dict[str, Any]:
    body = {
        "model": "anthropic-up",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }
    return {**body, **kw}


class Capture(Filter):
    name = "capture"
    rewrites_request = False

    def __init__(self) -> None:
        self.decisions: list[list[Decision]] = []

    async def on_complete(self, ctx: RequestContext) -> None:
        self.decisions.append(list(ctx.decisions))

    async def settled(self, n: int) -> list[list[Decision]]:
        """The decisions of the first ``n`` requests (on_complete runs after the answer)."""
        for _ in range(200):
            if len(self.decisions) >= n:
                break
            await asyncio.sleep(0.005)
        return self.decisions


class Gateway:
    def __init__(self, sim: SimServer, url: str, capture: Capture, gateway: Any) -> None:
        self.sim, self.url, self.capture, self.gateway = sim, url, capture, gateway

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.url + path, json=body, headers=headers) as r,
        ):
            return r.status, await r.read(), dict(r.headers)

    @property
    def upstream(self) -> Any:
        return self.sim.requests[-1].body

    def policy(self) -> PolicyFilter:
        return next(f for f in self.gateway.chain.filters if isinstance(f, PolicyFilter))


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer() as s:
        yield s


@contextlib.asynccontextmanager
async def gateway(sim: SimServer, **sections: Any) -> AsyncIterator[Gateway]:
    model = {"access_key": "sk-sim", "base_url": sim.url}
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [
            {"model": "openai/gpt-4o-mini", "name": "openai-up", **model},
            {"model": "anthropic/claude-sonnet-4-5", "name": "anthropic-up", **model},
            {"model": "mistral/mistral-small-latest", **model},
        ],
        "fallback": {"max_attempts": 1},
        **sections,
    }
    config, issues = check_config(data, {})
    assert config is not None, [str(i) for i in issues]
    capture = Capture()
    gw = build_gateway(config, TokenCounter(), extra_filters=[capture])
    app = gw.app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Gateway(sim, f"http://127.0.0.1:{runner.addresses[0][1]}", capture, gw)
    finally:
        await runner.cleanup()


def inline(rego: str, **entry: Any) -> list[dict[str, Any]]:
    return [{"name": "t", "rego": rego, **entry}]


def stream_events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]


async def test_deny_in_the_openai_shape_and_the_anthropic_shape(sim: SimServer) -> None:
    rego = 'package plano.t\ndeny contains "no tools for you" if count(input.tools) > 0\n'
    async with gateway(sim, policies=inline(rego)) as gw:
        status, raw, headers = await gw.post(CHAT, chat(tools=[tool("a")]))
        assert status == 403
        err = orjson.loads(raw)["error"]
        assert err["type"] == "permission_error" and err["code"] == "policy_denied"
        assert err["message"] == "Denied by policy: no tools for you"
        assert headers["x-plano-policy"] == "deny"
        status, raw, _ = await gw.post(MESSAGES, messages(tools=[anthropic_tool("a")]))
        assert status == 403
        body = orjson.loads(raw)
        assert body["type"] == "error" and body["error"]["type"] == "permission_error"
        assert "no tools for you" in body["error"]["message"]
        assert len(gw.sim.requests) == 0  # nothing reached the provider
        status, _, _ = await gw.post(CHAT, chat())
        assert status == 200
        denied, _, allowed = await gw.capture.settled(3)
        assert denied == [Decision("policy:t", "deny", "plano.t.deny", "no tools for you")]
        assert allowed[0] == Decision("policy:t", "allow", None, "request phase")


async def test_route_and_cap_reach_the_provider(sim: SimServer) -> None:
    rego = (
        "package plano.t\n"
        'route := "mistral/mistral-small-latest" if input.request.model == "openai-up"\n'
        "cap_max_tokens := 5\n"
    )
    async with gateway(sim, policies=inline(rego, phases=["request"])) as gw:
        status, raw, headers = await gw.post(CHAT, chat(max_tokens=500))
        assert status == 200, raw
        assert headers["x-plano-provider"] == "mistral"
        assert headers["x-plano-policy"] == "route,cap_max_tokens"
        assert gw.upstream["model"] == "mistral-small-latest" and gw.upstream["max_tokens"] == 5
        status, _, _ = await gw.post(MESSAGES, messages(max_tokens=64))
        assert status == 200 and gw.upstream["max_tokens"] == 5  # an Anthropic upstream too
        [first, _] = await gw.capture.settled(2)
        actions = [(d.action, d.reason) for d in first]
        assert ("route", "model 'openai-up' -> 'mistral/mistral-small-latest'") in actions
        assert ("cap", "max_tokens 500 -> 5") in actions
        assert not isinstance(gw.policy(), AnswerPolicyFilter)  # request phase only


async def test_an_offered_tool_is_stripped_before_the_provider_sees_it(sim: SimServer) -> None:
    rego = 'package plano.t\nstrip_tools contains "db_write"\n'
    async with gateway(sim, policies=inline(rego, phases=["request"])) as gw:
        body = chat("use a tool", tools=[tool("db_write"), tool("db_read")])
        body["tool_choice"] = {"type": "function", "function": {"name": "db_write"}}
        status, raw, _ = await gw.post(CHAT, body)
        assert status == 200, raw
        assert [t["function"]["name"] for t in gw.upstream["tools"]] == ["db_read"]
        assert "tool_choice" not in gw.upstream  # it forced the stripped tool
        assert (
            orjson.loads(raw)["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
            == "db_read"
        )


async def test_redaction_reaches_the_provider(sim: SimServer) -> None:
    rego = 'package plano.t\nredact contains {"pattern": "sk-[a-z0-9]+", "roles": ["user"]}\n'
    async with gateway(sim, policies=inline(rego, phases=["request"])) as gw:
        status, _, headers = await gw.post(CHAT, chat("my key is sk-abc123, ok?"))
        assert status == 200
        assert gw.upstream["messages"][0]["content"] == "my key is [REDACTED], ok?"
        assert headers["x-plano-policy"] == "redact"


async def test_a_called_tool_is_stripped_from_an_answer(sim: SimServer) -> None:
    rego = 'package plano.t\nstrip_tool_calls contains "db_write" if input.phase == "response"\n'
    async with gateway(sim, policies=inline(rego)) as gw:
        body = chat("use both tools", tools=[tool("db_write"), tool("db_read")])
        status, raw, headers = await gw.post(CHAT, body)
        assert status == 200
        choice = orjson.loads(raw)["choices"][0]
        assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["db_read"]
        assert headers["x-plano-policy"] == "strip_tool_calls"
        status, raw, _ = await gw.post(CHAT, chat("use a tool", tools=[tool("db_write")]))
        choice = orjson.loads(raw)["choices"][0]
        assert not choice["message"].get("tool_calls") and choice["finish_reason"] == "stop"


async def test_a_called_tool_is_stripped_from_a_stream(sim: SimServer) -> None:
    rego = 'package plano.t\nstrip_tool_calls contains "db_write"\n'
    async with gateway(sim, policies=inline(rego, phases=["response"])) as gw:
        body = chat("use both tools", tools=[tool("db_write"), tool("db_read")], stream=True)
        status, raw, _ = await gw.post(CHAT, body)
        assert status == 200
        assert b"db_write" not in raw
        calls = [
            c
            for ev in stream_events(raw)
            for ch in ev["choices"]
            for c in ch["delta"].get("tool_calls", [])
        ]
        assert {c["index"] for c in calls} == {0}
        assert calls[0]["function"]["name"] == "db_read"
        body = messages(
            "use both tools",
            tools=[anthropic_tool("db_write"), anthropic_tool("db_read")],
            stream=True,
        )
        status, raw, _ = await gw.post(MESSAGES, body)
        assert status == 200 and b"db_write" not in raw and b"db_read" in raw
        body = messages("use a tool", tools=[anthropic_tool("db_write")], stream=True)
        status, raw, _ = await gw.post(MESSAGES, body)
        stops = [
            e["delta"]["stop_reason"]
            for e in stream_events(raw)
            if e.get("type") == "message_delta"
        ]
        assert b"db_write" not in raw and stops == ["end_turn"]


async def test_a_blocked_call_in_a_stream_ends_it_with_an_error_before_the_call(
    sim: SimServer,
) -> None:
    rules = [{"deny": ["db_write"], "apply_to": "called", "action": "block", "name": "no-writes"}]
    async with gateway(sim, tool_rules=rules) as gw:
        body = chat("use a tool", tools=[tool("db_write")], stream=True)
        status, raw, _ = await gw.post(CHAT, body)
        assert status == 200
        assert b"db_write" not in raw.split(b"error")[0]
        last = stream_events(raw)[-1]
        assert last["error"]["type"] == "permission_error"
        assert "may not be called" in last["error"]["message"]
        status, raw, _ = await gw.post(CHAT, {**body, "stream": False})
        assert status == 403 and b"may not be called" in raw
        assert (await gw.capture.settled(2))[-1][-1] == Decision(
            "tool_rules", "deny", "no-writes", "tool call 'db_write' blocked"
        )


async def test_tool_rules_strip_offered_tools_per_team(sim: SimServer) -> None:
    rules = [{"match": {"key": "anonymous"}, "allow": ["get_*"], "apply_to": "offered"}]
    async with gateway(sim, tool_rules=rules) as gw:
        status, _, headers = await gw.post(CHAT, chat(tools=[tool("get_weather"), tool("shell")]))
        assert status == 200
        assert [t["function"]["name"] for t in gw.upstream["tools"]] == ["get_weather"]
        assert headers["x-plano-policy"] == "strip_tools"
        assert not isinstance(gw.policy(), AnswerPolicyFilter)


async def test_a_failing_policy_fails_closed_by_default_and_open_when_told(sim: SimServer) -> None:
    failing = 'package plano.bad\ndeny contains "x" if 1 / (input.request.max_tokens - 7) > 1\n'
    fine = "package plano.fine\ncap_max_tokens := 9\n"
    entries = [
        {"name": "bad", "rego": failing},
        {"name": "fine", "rego": fine, "phases": ["request"]},
    ]
    async with gateway(sim, policies=entries) as gw:
        status, raw, _ = await gw.post(CHAT, chat(max_tokens=7))
        assert status == 403
        assert b"policy 'bad' could not be evaluated" in raw
        status, _, _ = await gw.post(CHAT, chat(max_tokens=100))
        assert status == 200 and gw.upstream["max_tokens"] == 9
        assert gw.policy().engine.errors == {"bad": 1}
        errors = [d for d in (await gw.capture.settled(2))[0] if d.action == "error"]
        assert errors[0].source == "policy:bad" and errors[0].reason is not None
        assert "bad.rego" not in errors[0].reason and "policies[0].rego:2" in errors[0].reason
    entries[0]["on_error"] = "open"
    async with gateway(sim, policies=entries) as gw:
        status, _, _ = await gw.post(CHAT, chat(max_tokens=7))
        assert status == 200 and gw.upstream["max_tokens"] == 7  # the other policy still decides


async def test_a_route_to_an_undeclared_model_is_the_policys_error(sim: SimServer) -> None:
    rego = 'package plano.t\nroute := "nowhere/model"\n'
    async with gateway(sim, policies=inline(rego, phases=["request"])) as gw:
        status, raw, _ = await gw.post(CHAT, chat())
        assert status == 403 and b"could not be evaluated" in raw
        assert gw.policy().engine.errors == {"t": 1}


async def test_tool_calls_per_session(sim: SimServer) -> None:
    rego = """package plano.budget
used := n if { n := input.session.tool_calls; is_number(n) } else := 0
strip_tools contains t if { used >= 2; some t in input.tools }
deny contains "over budget" if { input.phase == "response"; used + count(input.tool_calls) > 2 }
"""
    async with gateway(sim, policies=inline(rego, session_counters=True)) as gw:
        one = {"x-plano-session-id": "s-1"}
        body = chat("use a tool", tools=[tool("a"), tool("b")])
        for _ in range(2):
            status, _, _ = await gw.post(CHAT, body, one)
            assert status == 200
        status, _, _ = await gw.post(CHAT, body, one)
        assert status == 200 and "tools" not in gw.upstream  # budget spent: no tools offered
        status, _, _ = await gw.post(
            CHAT,
            chat("use both tools", tools=[tool("a"), tool("b")]),
            {"x-plano-session-id": "s-2"},
        )
        assert status == 200  # 2 calls in a fresh session
        status, _, _ = await gw.post(
            CHAT, chat("use a tool", tools=[tool("a")]), {"x-plano-session-id": "s-2"}
        )
        assert status == 200 and "tools" not in gw.upstream


async def test_no_policies_no_filter(sim: SimServer) -> None:
    async with gateway(sim) as gw:
        assert not any(isinstance(f, PolicyFilter) for f in gw.gateway.chain.filters)


async def test_spend_so_far_comes_from_the_budgets(sim: SimServer) -> None:
    rego = """package plano.spend
deny contains "daily tokens spent" if input.spend.everyone.tokens > 0
"""
    budgets = [{"name": "everyone", "scope": "global", "period": "day", "tokens": 1000000}]
    async with gateway(sim, policies=inline(rego, phases=["request"]), budgets=budgets) as gw:
        status, _, _ = await gw.post(CHAT, chat())
        assert status == 200
        await gw.capture.settled(1)
        for _ in range(200):  # the budget settles after the answer, off the request's task
            status, raw, _ = await gw.post(CHAT, chat())
            if status == 403:
                break
            await asyncio.sleep(0.01)
        assert status == 403 and b"daily tokens spent" in raw


async def test_spend_is_null_without_budgets(sim: SimServer) -> None:
    rego = 'package plano.spend\ndeny contains "unknown spend" if input.spend == null\n'
    async with gateway(sim, policies=inline(rego, phases=["request"])) as gw:
        status, _, _ = await gw.post(CHAT, chat())
        assert status == 403


async def test_answers_without_tool_calls_skip_the_response_phase(sim: SimServer) -> None:
    rego = 'package plano.t\nstrip_tool_calls contains "x"\n'
    async with gateway(sim, policies=inline(rego)) as gw:
        await gw.post(CHAT, chat())
        await gw.post(CHAT, chat(stream=True))
        assert gw.policy().engine.evaluations == {"request": 2}
        await gw.post(CHAT, chat("use a tool", tools=[tool("a")]))
        await gw.post(CHAT, chat("use a tool", tools=[tool("a")], stream=True))
        assert gw.policy().engine.evaluations == {"request": 4, "response": 2}
    rego = 'package plano.t\ndeny contains "far" if input.deployment.provider == "mistral"\n'
    async with gateway(sim, policies=inline(rego)) as gw:
        status, _, _ = await gw.post(CHAT, chat())
        assert status == 200 and gw.policy().engine.evaluations == {"request": 1, "response": 1}
        status, _, _ = await gw.post(CHAT, {**chat(), "model": "mistral/mistral-small-latest"})
        assert status == 403
