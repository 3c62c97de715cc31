from __future__ import annotations

from plano.core.model import ChatRequest, Message, TextPart
from plano.core.trace import TraceContext
from plano.pipeline.context import RequestContext
from plano.server.agent_calls import agent_url, hop_headers

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_agent_url_honours_the_agents_own_path() -> None:
    assert agent_url("http://h:1", "openai_chat") == "http://h:1/v1/chat/completions"
    assert agent_url("http://h:1/", "anthropic_messages") == "http://h:1/v1/messages"
    assert agent_url("http://h/agents/a", "openai_chat") == "http://h/agents/a/v1/chat/completions"
    assert agent_url("http://h/api/v1", "openai_responses") == "http://h/api/v1/responses"
    assert agent_url("http://h/x/chat/completions", "openai_chat") == "http://h/x/chat/completions"


def test_hop_headers_as_plano_sends_them() -> None:
    client = {
        "authorization": "Bearer plano-key",
        "content-length": "12",
        "x-acme-workspace": "w1",
        "traceparent": TRACE,
    }
    req = ChatRequest("m", [Message("user", [TextPart("hi")])])
    ctx = RequestContext(
        "req_1",
        "openai_chat",
        client,
        request=req,
        trace=TraceContext.start(TRACE),
        session_id="s1",
    )
    hop = ctx.child("agent", "req_1", agent_id="weather")
    out = hop_headers(hop, "weather", "travel", client)
    assert out["x-arch-upstream"] == "weather"
    assert out["x-arch-agent-listener-name"] == "travel"
    assert out["x-request-id"] == "req_1"
    assert out["x-plano-session-id"] == "s1"
    assert out["x-acme-workspace"] == "w1"
    assert "authorization" not in out and "content-length" not in out
    _, trace_id, span, _ = out["traceparent"].split("-")
    assert trace_id == TRACE.split("-")[1] and span == hop.trace.span_id
    assert hop.trace.parent_id == ctx.trace.span_id
