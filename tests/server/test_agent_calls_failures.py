"""The agent caller tells the managed directory about a replica it could not reach, so the
next call skips it at once (not only after the next failed health check)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from aiohttp import web

from plano.agents.directory import LiveDirectory, StaticDirectory
from plano.agents.lifecycle import AgentPlan, ManagedAgent, plan_agents
from plano.agents.lifecycle_health import ManagedDirectory
from plano.config.agent_run import AgentRun
from plano.core.model import ChatRequest, Message, TextPart
from plano.core.trace import TraceContext
from plano.pipeline.context import RequestContext
from plano.providers.transport import Timeouts, UpstreamPool
from plano.server.agent_calls import AgentCaller


async def _agent(answer: str) -> tuple[web.AppRunner, int, list[int]]:
    calls: list[int] = []

    async def chat(_r: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response(
            {
                "id": "c",
                "object": "chat.completion",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_get("/healthz", lambda _r: _ok())
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port, calls


async def _ok() -> web.Response:
    return web.Response()


def _ctx() -> RequestContext:
    req = ChatRequest("m", [Message("user", [TextPart("hi")])])
    return RequestContext("req_1", "openai_chat", {}, request=req, trace=TraceContext.start(None))


async def test_a_replica_that_cannot_be_reached_is_skipped_at_once(tmp_path: Path) -> None:
    (dead_runner, dead_port, _), (live_runner, live_port, live_calls) = [
        await _agent("dead"),
        await _agent("live"),
    ]
    run = AgentRun(health_interval=60, start_timeout=5)
    made = plan_agents(
        [SimpleNamespace(id="a", url=f"http://127.0.0.1:{dead_port}", run=run)],
        base_dir=tmp_path,
        plano_url="",
    )
    first = made.agents["a"].replicas[0]
    second = type(first)(
        "a", 1, f"http://127.0.0.1:{live_port}", f"http://127.0.0.1:{live_port}/healthz"
    )
    plan = AgentPlan({"a": ManagedAgent("a", run, (first, second))}, made.secret)
    managed = ManagedDirectory(plan)
    # The caller sees the directory through LiveDirectory, as a worker's snapshot does.
    directory = LiveDirectory(lambda: managed, StaticDirectory(()))
    pool = UpstreamPool(Timeouts(connect=1.0))
    caller = AgentCaller(pool, directory, {"a": "openai_chat"})
    await managed.start()
    try:
        assert await managed.wait_up("a", 5, every=True)
        await dead_runner.cleanup()  # the replica dies between two health checks (60 s apart)
        seen = set()
        for _ in range(4):
            ctx = _ctx()
            assert ctx.request is not None
            answer = await caller.collect(ctx, "a", ctx.request)
            seen.add(answer.choices[0].message.text())
        assert seen == {"live"}
        # Reported once, then skipped: every call went to the live replica, none waited on
        # the dead one again.
        assert managed.endpoints("a") == [f"http://127.0.0.1:{live_port}"]
        assert len(live_calls) == 4
        row = managed.status()[0]
        assert row["healthy"] == 1
        assert "connect" in (row["replicas"][0]["last_error"] or "").lower()
    finally:
        await managed.close()
        await pool.close()
        await live_runner.cleanup()
