"""The input document: pure, the documented example's keys and types, no text by default."""

from __future__ import annotations

from typing import Any

from plano.core.model import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall
from plano.pipeline.context import Principal, RequestContext
from plano.policy.input import (
    build_input,
    estimate_tokens,
    principal_doc,
    request_doc,
    time_doc,
    tool_call_docs,
)
from plano.providers.deployment import Deployment
from plano.providers.table import resolve_spec
from plano.rego import sample_input

SECRET = "my password is hunter2"


def request() -> ChatRequest:
    return ChatRequest(
        model="fast",
        messages=[
            Message("system", [TextPart("be brief")]),
            Message("user", [TextPart(SECRET), ImagePart("https://x/y.png")]),
            Message("assistant", tool_calls=[ToolCall("c1", "lookup", '{"q": 1}')]),
        ],
        max_tokens=100,
        tools=[Tool("lookup"), Tool("db_write")],
        tool_choice="auto",
    )


def context() -> RequestContext:
    ctx = RequestContext("req_1", "openai_chat", {}, request=request(), listener="llm")
    ctx.principal = Principal("key_1", "key", "alice", "support", "acme", frozenset({"b", "a"}))
    ctx.session_id = "s-1"
    ctx.agent_id = "support"
    return ctx


def shape(value: Any) -> Any:
    """Keys and value types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def build(phase: str = "request", **kw: Any) -> dict[str, Any]:
    ctx = context()
    assert ctx.request is not None
    resolved = {"name": "groq/llama", "provider": "groq", "model": "llama"}
    req = request_doc(ctx.request, include_text=kw.pop("include_text", False), resolved=resolved)
    return build_input(ctx, phase, now=1796205600.0, request=req, **kw)  # type: ignore[arg-type]


def test_the_document_has_the_documented_keys() -> None:
    doc = build(session_tool_calls=3)
    sample = sample_input()
    assert set(doc) == set(sample)
    assert set(doc["request"]) == set(sample["request"])
    assert shape(doc["principal"]) == shape(sample["principal"])
    assert shape(doc["request"]["messages"][0]) == shape(sample["request"]["messages"][0])
    assert shape(doc["time"]) == shape(sample["time"])
    assert doc["session"] == {"id": "s-1", "tool_calls": 3}


def test_the_response_phase_has_the_deployment_and_the_calls() -> None:
    ctx = context()
    ctx.deployment = Deployment(
        "openai/gpt-4o-mini", "openai", "gpt-4o-mini", resolve_spec("openai", None), "http://x"
    )  # type: ignore[arg-type]
    assert ctx.request is not None
    req = request_doc(ctx.request, include_text=False, resolved=None)
    calls = tool_call_docs([(0, ToolCall("c9", "db_write", '{"sql": "DROP"}'))])
    doc = build_input(ctx, "response", now=0.0, request=req, tool_calls=calls)
    sample = sample_input("response")
    assert shape(doc["tool_calls"]) == shape(sample["tool_calls"])
    assert doc["tool_calls"][0]["arguments"] == {"sql": "DROP"}
    assert doc["deployment"] == {
        "name": "openai/gpt-4o-mini",
        "provider": "openai",
        "model": "gpt-4o-mini",
    }
    assert shape(doc["deployment"]) == shape(sample["deployment"])


def test_no_message_text_unless_asked() -> None:
    doc = build()
    assert SECRET not in repr(doc)
    user = doc["request"]["messages"][1]
    assert user == {"role": "user", "chars": len(SECRET), "images": 1, "tool_calls": 0}
    assert doc["request"]["messages"][2]["tool_calls"] == 1
    with_text = build(include_text=True)
    assert with_text["request"]["messages"][1]["text"] == SECRET


def test_summary_sizes_and_estimate() -> None:
    doc = build()
    r = doc["request"]
    assert r["message_count"] == 3 and r["images"] == 1
    assert r["chars"] == len("be brief") + len(SECRET) + len("lookup") + len('{"q": 1}')
    assert r["estimated_tokens"] > 85  # the image counts
    assert r["model"] == "fast" and r["max_tokens"] == 100 and r["tool_choice"] == "auto"
    assert doc["tools"] == ["lookup", "db_write"]
    assert doc["phase"] == "request" and doc["deployment"] is None and doc["tool_calls"] == []


def test_principal_part_is_cached_and_tags_sorted() -> None:
    p = Principal("k", tags=frozenset({"z", "a"}))
    assert principal_doc(p) is principal_doc(Principal("k", tags=frozenset({"a", "z"})))
    assert principal_doc(p)["tags"] == ["a", "z"]


def test_arguments_that_are_not_json_stay_text() -> None:
    [call] = tool_call_docs([(1, ToolCall("c", "f", "{broken"))])
    assert call == {"id": "c", "name": "f", "arguments": "{broken", "choice": 1}
    assert tool_call_docs([(0, ToolCall("c", "f", ""))])[0]["arguments"] == {}


def test_time_is_utc() -> None:
    assert time_doc(0.5) == {"iso": "1970-01-01T00:00:00Z", "epoch": 0.5, "epoch_ns": 500000000}


def test_estimate_matches_accounting() -> None:
    from plano.core.model import TextSize

    assert estimate_tokens(TextSize(400, 30, 0, 2)) == 3 + 6 + 100 + 10
