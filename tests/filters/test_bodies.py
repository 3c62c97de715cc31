"""Bodies as remote filters see them: the client's own bytes while nothing changed, the
canonical request in the client's shape once something did; replies parsed back in place."""

from __future__ import annotations

import orjson
import pytest

from plano.core.model import ChatRequest, ChatResponse, Choice, Message, TextPart
from plano.filters.bodies import (
    API_PATHS,
    answer_body,
    apply_answer,
    apply_request,
    request_body,
    sse_reply,
)
from plano.filters.errors import FilterFailed, FilterReplyInvalid
from plano.pipeline.context import RequestContext
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS
from plano.wire import openai_chat
from plano.wire.shapes import SHAPES


def _parsed(body: dict[str, object]) -> ChatRequest:
    req = openai_chat.parse_request(body)
    req.raw_body = orjson.dumps(body)
    return req


def test_every_client_shape_has_a_path() -> None:
    assert set(API_PATHS) == set(SHAPES)


def test_the_clients_bytes_while_nothing_changed() -> None:
    req = _parsed({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert request_body(req) is req.raw_body


def test_a_changed_request_is_encoded_in_the_clients_shape() -> None:
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    req = _parsed(body)
    req.messages[0].content = [TextPart("changed")]
    req.changed()
    out = orjson.loads(request_body(req))
    assert out["messages"] == [{"role": "user", "content": "changed"}]
    assert out["stream_options"] == {"include_usage": True}


async def test_apply_request_in_place_keeps_what_plano_assigned() -> None:
    req = _parsed({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    req.answer_id = "resp_1"
    ctx = RequestContext("req_1", "openai_chat", {}, request=req)
    reply = orjson.dumps({"model": "m", "seed": 3, "messages": [{"role": "user", "content": "HI"}]})
    await apply_request(ctx, reply, "f")
    assert ctx.request is req
    assert req.messages[0].text() == "HI" and req.answer_id == "resp_1"
    assert req.raw_body == reply and req.extra == {"seed": 3}
    with pytest.raises(FilterReplyInvalid, match="not JSON"):
        await apply_request(ctx, b"<html>", "f")
    with pytest.raises(FilterReplyInvalid, match="messages"):
        await apply_request(ctx, b'{"model": "m"}', "f")
    assert req.messages[0].text() == "HI"  # a bad reply changes nothing


def _answer(raw: dict[str, object] | None) -> ChatResponse:
    msg = Message("assistant", [TextPart("hello")])
    return ChatResponse("c1", "m", [Choice(0, msg, "stop")], raw=raw)


def test_answer_body_is_the_providers_when_it_speaks_the_clients_shape() -> None:
    ctx = RequestContext("req_1", "openai_chat", {})
    ctx.deployment = Deployment("m", "openai", "m", KNOWN_PROVIDERS["openai"], "http://up")
    raw = {"id": "c1", "object": "chat.completion", "choices": [], "x_extra": 1}
    assert orjson.loads(answer_body(ctx, _answer(raw))) == raw
    rendered = orjson.loads(answer_body(ctx, _answer(None)))
    assert rendered["choices"][0]["message"]["content"] == "hello"
    ctx.shape = "anthropic_messages"  # another shape: rendered, whatever the raw body
    assert orjson.loads(answer_body(ctx, _answer(raw)))["content"][0]["text"] == "hello"


def test_apply_answer_replaces_the_content_only() -> None:
    ctx = RequestContext("req_1", "openai_chat", {})
    resp = _answer({"id": "c1"})
    reply = orjson.loads(answer_body(ctx, resp))
    reply["id"] = "other"
    reply["choices"][0]["message"]["content"] = "HELLO"
    apply_answer(ctx, resp, orjson.dumps(reply), "f")
    assert resp.choices[0].message.text() == "HELLO"
    assert resp.id == "c1" and resp.raw is None
    with pytest.raises(FilterFailed, match="not JSON"):
        apply_answer(ctx, resp, b"nope", "f")


def test_sse_replies_to_a_stream_event() -> None:
    assert sse_reply(b'{"a": 1}', "x") == [('{"a": 1}', "x")]
    two = b'event: y\ndata: {"b": 2}\n\ndata: {"c": 3}'  # no final blank line
    assert sse_reply(two, "x") == [('{"b": 2}', "y"), ('{"c": 3}', "x")]
    assert sse_reply(b"", "x") == []  # the filter dropped the event
