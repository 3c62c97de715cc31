"""The ``pii`` filter: redact (and restore), block and flag, on prompts and answers, streams
across event boundaries, tool-call arguments kept valid JSON, opaque requests redacted in the
client's own body; at the chain level and through a config-built gateway in every client
shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from tests.filters.redaction import (
    answer,
    context,
    entry_chain,
    gateway_with_entry,
    joined,
    request,
    through,
)
from tests.filters.standins import (
    CHAT,
    MESSAGES,
    call,
    chat,
    messages,
    stream_text,
)

from plano.config.filters import PiiSpec
from plano.core.model import (
    ChatRequest,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)
from plano.errors import ConfigError
from plano.filters.errors import FilterRejected
from plano.filters.pii import PII_ANSWER_LABEL, PII_LABEL, found_in_request, pii
from plano.guard import pii_presidio
from plano.guard.pii import PiiDetector
from plano.pipeline.filters import FilterChain
from plano.pipeline.registry import FilterRole
from plano.sim import SimServer
from plano.wire import anthropic_messages
from plano.wire.capabilities import check

EMAIL = "bob@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 2671"


def spec(**options: Any) -> PiiSpec:
    return PiiSpec.model_validate({"id": "pii", "type": "pii", "options": options})


def chain(s: PiiSpec, role: FilterRole = "input") -> FilterChain:
    return entry_chain(pii, s, role)


def pieces(text: str, size: int = 3) -> list[StreamEvent]:
    return [TextDelta(text[i : i + size]) for i in range(0, len(text), size)]


# ------------------------------------------------------------------ options


def test_defaults_and_bad_options() -> None:
    o = spec().options
    assert (o.action, o.restore, o.apply_to, o.placeholder) == (
        "redact",
        False,
        ["request"],
        "[{kind} {n}]",
    )
    for bad, message in [
        ({"kinds": ["email", "nickname"]}, "kinds.1"),
        ({"kinds": ["person"]}, "need engine: presidio"),
        ({"action": "block", "restore": True}, "restore applies to action: redact"),
        ({"restore": True, "apply_to": ["response"]}, "on the request"),
        ({"restore": True, "placeholder": "[{kind}]"}, "needs {n}"),
        ({"placeholder": "[{name}]"}, "may only use {kind} and {n}"),
        ({"placeholder": '"{kind}"'}, "without"),
        ({"apply_to": ["request", "request"]}, "repeated: request"),
        ({"presidio": {"model": "x"}}, "need engine: presidio"),
        ({True: ["request"]}, "say apply_to"),  # what YAML makes of `on:`
    ]:
        with pytest.raises(ValidationError, match=message):
            PiiSpec.model_validate({"id": "pii", "type": "pii", "options": bad})


@pytest.mark.skipif(pii_presidio.available(), reason="presidio-analyzer is installed")
def test_engine_presidio_without_the_extra_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"plano\[presidio\]"):
        pii(spec(engine="presidio"), "input")


# ------------------------------------------------------------------ redact and restore


async def test_prompt_redacted_with_numbered_placeholders() -> None:
    req = request(f"mail {EMAIL} or {PHONE}", f"again {EMAIL}, card {CARD}")
    ctx = context(req)
    await chain(spec()).on_request(ctx)
    assert req.messages[0].text() == "mail [email 1] or [phone 1]"
    assert req.messages[1].text() == "again [email 1], card [card 1]"
    assert req.raw is None and req.raw_body is None  # encoded anew for the provider
    assert ctx.labels[PII_LABEL] == "email,card,phone"


async def test_nothing_found_keeps_the_clients_bytes() -> None:
    req = request("version 1.2.3 shipped 2024-05-12, order 1234567890123456")
    ctx = context(req)
    await chain(spec(restore=True)).on_request(ctx)
    assert req.raw_body == b"{}" and PII_LABEL not in ctx.labels


async def test_tool_call_arguments_stay_valid_json() -> None:
    args = '{"to": "bob@example.com", "card": 4111111111111111, "note": "call\\n+14155552671"}'
    req = request("hi", calls=[ToolCall("c", "send", args)])
    await chain(spec()).on_request(context(req))
    redacted = req.messages[1].tool_calls[0].arguments
    assert orjson.loads(redacted) == {
        "to": "[email 1]",
        "card": "[card 1]",
        "note": "call\n[phone 1]",
    }
    assert redacted.startswith('{"to": "[email 1]", ')  # the model's formatting kept


async def test_restore_in_answers_and_streams() -> None:
    ctx = context(request(f"mail {EMAIL}, card {CARD}"))
    c = chain(spec(restore=True))
    await c.on_request(ctx)
    resp = answer("Sent to [email 1] for [card 1].", '{"to": "[email 1]"}')
    await c.on_response(ctx, resp)
    assert resp.choices[0].message.text() == f"Sent to {EMAIL} for {CARD}."
    assert resp.choices[0].message.tool_calls[0].arguments == f'{{"to": "{EMAIL}"}}'
    events = [*pieces("Sent to [email 1] for [card 1]. Done [x"), StreamEnd("stop")]
    out = await through(c, ctx, events)
    assert joined(out) == f"Sent to {EMAIL} for {CARD}. Done [x"
    assert isinstance(out[-1], StreamEnd)


async def test_answer_side_redaction_numbers_after_the_prompts_values() -> None:
    """New PII in the answer gets its own placeholders ([email 2]): restoring the prompt's
    values never puts the client's value in their place."""
    ctx = context(request(f"mail {EMAIL}"))
    c = chain(spec(restore=True, apply_to=["request", "response"]))
    await c.on_request(ctx)
    text = "Wrote [email 1]; also try eve@corp.example.org, or call 212-555-0147."
    resp = answer(text)
    await c.on_response(ctx, resp)
    restored = f"Wrote {EMAIL}; also try [email 2], or call [phone 1]."
    assert resp.choices[0].message.text() == restored
    assert ctx.labels[PII_ANSWER_LABEL] == "email,phone"
    ctx.state.pop("filter:pii:input:answer", None)  # a fresh answer
    out = await through(c, ctx, [*pieces(text, 4), StreamEnd("stop")])
    assert joined(out) == restored


async def test_streamed_tool_arguments_are_redacted_whole() -> None:
    ctx = context(request("hi"))
    c = chain(spec(), role="output")
    args = '{"to": "eve@corp.example.org", "n": 4111111111111111}'
    events: list[StreamEvent] = [ToolCallDelta(0, id="c1", name="send")]
    events += [ToolCallDelta(0, arguments=args[i : i + 5]) for i in range(0, len(args), 5)]
    events.append(StreamEnd("tool_calls"))
    out = await through(c, ctx, events)
    calls = [e for e in out if isinstance(e, ToolCallDelta)]
    assert calls[0].id == "c1" and calls[0].name == "send"
    sent = "".join(e.arguments for e in calls)
    assert orjson.loads(sent) == {"to": "[email 1]", "n": "[card 1]"}


async def test_output_filter_redacts_answers_across_events() -> None:
    ctx = context(request("hi"))
    c = chain(spec(), role="output")
    text = f"Reach me at {EMAIL} or {PHONE}. " + "More text follows here. " * 20
    out = await through(c, ctx, [*pieces(text, 2), StreamEnd("stop")])
    got = joined(out)
    assert EMAIL not in got and "415 555" not in got
    assert got.startswith("Reach me at [email 1] or [phone 1]. More")
    assert len(out) > 10  # text flowed before the end


# ------------------------------------------------------------------ block and flag


async def test_block_names_the_kinds_never_the_values() -> None:
    req = request(f"card {CARD} and {EMAIL}")
    ctx = context(req)
    with pytest.raises(FilterRejected) as caught:
        await chain(spec(action="block")).on_request(ctx)
    err = caught.value
    assert err.status == 400 and err.code == "filter_rejected"
    assert "email, card" in err.message and EMAIL not in err.message and "4111" not in err.message
    assert ctx.labels[PII_LABEL] == "email,card"
    clean = context(request("no personal data here"))
    await chain(spec(action="block")).on_request(clean)  # passes


async def test_block_only_the_kinds_asked_for() -> None:
    ctx = context(request(f"mail {EMAIL}"))
    ctx.labels[PII_LABEL] = "email"  # an earlier entry's finding is not this one's
    await chain(spec(action="block", kinds=["card", "ssn"])).on_request(ctx)
    with pytest.raises(FilterRejected, match="email"):
        await chain(spec(action="block", kinds=["email"])).on_request(ctx)


async def test_block_an_answer_before_any_value_reaches_the_client() -> None:
    ctx = context(request("hi"))
    c = chain(spec(action="block", apply_to=["request", "response"], max_match=32))
    await c.on_request(ctx)
    text = "Sure. " * 10 + f"The number is {CARD}, enjoy." + " More." * 10
    sent: list[StreamEvent] = []
    with pytest.raises(FilterRejected, match=r"the answer contains personal data \(card\)"):
        for ev in pieces(text, 4):
            sent += await c.stream_events(ctx, [ev])
    assert "4111" not in joined(sent) and joined(sent).startswith("Sure.")
    with pytest.raises(FilterRejected):
        await c.on_response(ctx, answer(text))
    assert ctx.labels[PII_ANSWER_LABEL] == "card"


async def test_flag_passes_everything_and_records_the_kinds() -> None:
    req = request(f"mail {EMAIL} from 203.0.113.7")
    ctx = context(req)
    c = chain(spec(action="flag", apply_to=["request", "response"]))
    await c.on_request(ctx)
    assert req.raw_body == b"{}" and EMAIL in req.messages[0].text()  # untouched
    assert ctx.labels[PII_LABEL] == "email,ip"
    assert ctx.response_headers["x-plano-pii"] == "email,ip"  # the client is told too
    events = [*pieces(f"call {PHONE} now", 2), StreamEnd("stop")]
    out = await through(c, ctx, events)
    assert out == events  # every event passes as it came
    assert ctx.labels[PII_ANSWER_LABEL] == "phone"


async def test_a_flagging_entry_does_not_make_streams_rendered() -> None:
    only_prompts = chain(spec(action="flag"))
    assert not only_prompts.filters_streams  # prompts only: the provider's bytes relayed
    assert chain(spec(action="flag", apply_to=["response"])).filters_streams


# ------------------------------------------------------------------ opaque content


def opaque_request() -> ChatRequest:
    body = {
        "model": "m",
        "max_tokens": 16,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": EMAIL},
                        "title": f"notes of {PHONE}",
                    },
                    {"type": "text", "text": f"summarise; reply to {EMAIL}"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AKIA"},
                    },
                ],
            }
        ],
    }
    req = anthropic_messages.parse_request(body)
    req.raw_body = orjson.dumps(body)
    return req


async def test_opaque_content_is_redacted_in_the_clients_own_body() -> None:
    req = opaque_request()
    before = req.raw
    ctx = context(req)
    await chain(spec(restore=True)).on_request(ctx)
    assert req.raw is not None and req.raw_body is None  # kept, re-serialized
    blocks = req.raw["messages"][0]["content"]
    assert blocks[0]["source"]["data"] == "[email 1]"
    assert blocks[0]["title"] == "notes of [phone 1]"
    assert blocks[1]["text"] == "summarise; reply to [email 1]"
    assert req.messages[0].text() == "summarise; reply to [email 1]"  # canonical too
    assert before is not None and EMAIL in orjson.dumps(before).decode()  # copied, not edited
    check(req, "anthropic", "anthropic")  # still goes to its own family


async def test_opaque_content_is_checked_by_block_and_flag() -> None:
    req = opaque_request()
    req.raw["messages"][0]["content"][1]["text"] = "summarise"  # type: ignore[index]
    req.messages[0].content = [TextPart("summarise")]
    assert found_in_request(req, PiiDetector()) == {"email", "phone"}
    with pytest.raises(FilterRejected):
        await chain(spec(action="block")).on_request(context(req))


# ------------------------------------------------------------------ through a gateway


@pytest.fixture
async def gateway_with(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimServer, str]]:
    role, options = request.param
    async with gateway_with_entry({"id": "pii", "type": "pii", "options": options}, role) as gw:
        yield gw


def responses(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": "openai-up", "input": text, "stream": stream}


SHAPES = pytest.mark.parametrize(
    ("path", "make"),
    [(CHAT, chat), (MESSAGES, messages), ("/v1/responses", responses)],
    ids=["openai_chat", "anthropic_messages", "openai_responses"],
)
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
PROMPT = f"mail {EMAIL} and call {PHONE} today"


@pytest.mark.parametrize("gateway_with", [("input", {"restore": True})], indirect=True)
@STREAM
@SHAPES
async def test_redacted_upstream_restored_downstream(
    gateway_with: tuple[SimServer, str], path: str, make: Any, stream: bool
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, path, make(PROMPT, stream=stream))
    assert status == 200, raw
    sent = orjson.dumps(sim.requests[-1].body).decode()
    assert "[email 1]" in sent and "[phone 1]" in sent
    assert EMAIL not in sent and "555 2671" not in sent
    text = raw.decode()
    # The simulator echoes the prompt word by word: placeholders arrive cut across events.
    assert EMAIL in text and "[email 1]" not in text and "[phone 1]" not in text
    if stream and path != "/v1/responses":
        assert f"{EMAIL} and call {PHONE}" in stream_text(raw)


@pytest.mark.parametrize("gateway_with", [("input", {"action": "block"})], indirect=True)
@SHAPES
async def test_block_answers_400_in_the_clients_shape(
    gateway_with: tuple[SimServer, str], path: str, make: Any
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, path, make(PROMPT))
    assert status == 400
    body = orjson.loads(raw)
    error = body["error"]
    assert "email, phone" in error["message"] and EMAIL not in raw.decode()
    if path == MESSAGES:
        assert body["type"] == "error" and error["type"] == "invalid_request_error"
    else:
        assert error["code"] == "filter_rejected"
    assert sim.requests == []  # nothing was sent
    ok, _ = await call(url, path, make("nothing personal"))
    assert ok == 200


@pytest.mark.parametrize("gateway_with", [("input", {"action": "flag"})], indirect=True)
@STREAM
async def test_flag_sends_the_request_as_it_came(
    gateway_with: tuple[SimServer, str], stream: bool
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, CHAT, chat(PROMPT, stream=stream))
    assert status == 200, raw
    assert EMAIL in orjson.dumps(sim.requests[-1].body).decode()
    assert EMAIL in raw.decode()


@pytest.mark.parametrize("gateway_with", [("output", {})], indirect=True)
@STREAM
@SHAPES
async def test_answers_redacted_on_the_response_side(
    gateway_with: tuple[SimServer, str], path: str, make: Any, stream: bool
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, path, make(PROMPT, stream=stream))
    assert status == 200, raw
    assert EMAIL in orjson.dumps(sim.requests[-1].body).decode()  # prompts untouched
    text = raw.decode()
    assert EMAIL not in text and "[email 1]" in text and "[phone 1]" in text


@pytest.mark.parametrize("gateway_with", [("input", {"restore": True})], indirect=True)
async def test_an_anthropic_document_is_redacted_and_still_sent(
    gateway_with: tuple[SimServer, str],
) -> None:
    sim, url = gateway_with
    body = messages(f"summarise; reply to {EMAIL}")
    body["messages"][0]["content"] = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": EMAIL}},
        {"type": "text", "text": f"summarise; reply to {EMAIL}"},
    ]
    status, raw = await call(url, MESSAGES, body)
    assert status == 200, raw
    sent = sim.requests[-1].body
    assert sent["messages"][0]["content"][0]["source"]["data"] == "[email 1]"
    assert EMAIL not in orjson.dumps(sent).decode()
    assert EMAIL in raw.decode()
