"""regex_redact: the request redacted, values restored in the answer (streams too, across
event boundaries), answers redacted on output; unit level and through a config-built gateway
in every client shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
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

from plano.config.filters import RegexRedactSpec
from plano.core.model import (
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.filters.redact import Redactions, Redactor, regex_redact, restore
from plano.pipeline.filters import FilterChain
from plano.pipeline.registry import FilterRole
from plano.sim import SimServer

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"
CARD = r"\b(?:\d{4}[ -]?){3}\d{4}\b"


def spec(**options: Any) -> RegexRedactSpec:
    options.setdefault(
        "patterns", [{"name": "email", "regex": EMAIL}, {"name": "card", "regex": CARD}]
    )
    return RegexRedactSpec.model_validate({"id": "pii", "type": "regex_redact", "options": options})


def chain(s: RegexRedactSpec, role: FilterRole = "input") -> FilterChain:
    return entry_chain(regex_redact, s, role)


# ------------------------------------------------------------------ pure parts


def test_each_distinct_value_gets_a_stable_numbered_placeholder() -> None:
    r = Redactor.from_options(spec().options)
    seen = Redactions()
    text, _ = r.redact("a@x.io, b@y.io, a@x.io and 4111 1111 1111 1111", seen)
    assert text == "[email 1], [email 2], [email 1] and [card 1]"
    assert seen.originals == {
        "[email 1]": "a@x.io",
        "[email 2]": "b@y.io",
        "[card 1]": "4111 1111 1111 1111",
    }
    assert restore(text, seen) == "a@x.io, b@y.io, a@x.io and 4111 1111 1111 1111"


def test_a_cut_never_splits_a_match() -> None:
    r = Redactor.from_options(spec().options)
    seen = Redactions()
    text = "mail bob@example.com now"
    emitted, cut = r.redact(text, seen, upto=10)  # inside the address
    assert (emitted, cut) == ("mail ", 5)


def test_placeholder_without_name_numbers_across_kinds() -> None:
    r = Redactor.from_options(spec(placeholder="<{n}>").options)
    text, _ = r.redact("a@x.io 4111-1111-1111-1111", Redactions())
    assert text == "<1> <2>"


def test_restore_escapes_values_inside_tool_arguments() -> None:
    seen = Redactions()
    seen.add("name", 'Bob "B" Smith', "[name 1]")
    assert restore('{"to": "[name 1]"}', seen, json=True) == '{"to": "Bob \\"B\\" Smith"}'


# ------------------------------------------------------------------ as a chain


async def test_the_request_is_redacted_and_marked_changed() -> None:
    req = request("write to a@x.io", calls=[ToolCall("c", "send", '{"to": "a@x.io"}')])
    ctx = context(req)
    await chain(spec()).on_request(ctx)
    assert req.messages[0].text() == "write to [email 1]"
    assert req.messages[1].tool_calls[0].arguments == '{"to": "[email 1]"}'
    assert req.raw is None and req.raw_body is None  # the provider gets the new text


async def test_nothing_to_redact_keeps_the_clients_bytes() -> None:
    req = request("nothing here")
    c = chain(spec(restore=True))
    ctx = context(req)
    await c.on_request(ctx)
    assert req.raw_body == b"{}"
    events: list[StreamEvent] = [TextDelta("[email"), TextDelta(" 1]"), StreamEnd("stop")]
    assert await through(c, ctx, events) == events  # no values, nothing held


async def test_restore_in_a_non_stream_answer() -> None:
    ctx = context(request("write to a@x.io"))
    c = chain(spec(restore=True))
    await c.on_request(ctx)
    resp = answer("Sent to [email 1].", '{"to": "[email 1]"}')
    await c.on_response(ctx, resp)
    assert resp.choices[0].message.text() == "Sent to a@x.io."
    assert resp.choices[0].message.tool_calls[0].arguments == '{"to": "a@x.io"}'
    assert resp.raw is None  # rendered anew for the client


async def test_restore_across_stream_events() -> None:
    ctx = context(request("write to a@x.io and 4111 1111 1111 1111"))
    c = chain(spec(restore=True))
    await c.on_request(ctx)
    pieces = ["Sent to [em", "ail", " 1] and [card 1", "]", " ok [", "not one]", " tail ["]
    events: list[StreamEvent] = [TextDelta(p) for p in pieces]
    events += [StreamEnd("stop"), UsageEvent(Usage(1, 2))]
    out = await through(c, ctx, events)
    assert joined(out) == "Sent to a@x.io and 4111 1111 1111 1111 ok [not one] tail ["
    # Held text is released before the events that close the answer, in order.
    assert isinstance(out[-2], StreamEnd) and isinstance(out[-1], UsageEvent)
    assert all(isinstance(e, TextDelta) for e in out[:-2])


async def test_restore_in_streamed_tool_arguments() -> None:
    ctx = context(request("write to a@x.io"))
    c = chain(spec(restore=True))
    await c.on_request(ctx)
    events: list[StreamEvent] = [
        TextDelta("Calling [email"),
        ToolCallDelta(0, id="c1", name="send", arguments='{"to": "[ema'),
        ToolCallDelta(0, arguments='il 1]"}'),
        StreamEnd("tool_calls"),
    ]
    out = await through(c, ctx, events)
    assert joined(out) == "Calling [email"  # not a placeholder once the text ended
    calls = [e for e in out if isinstance(e, ToolCallDelta)]
    assert calls[0].id == "c1" and calls[0].name == "send"
    assert "".join(e.arguments for e in calls) == '{"to": "a@x.io"}'


async def test_as_an_output_filter_answers_are_redacted_across_events() -> None:
    ctx = context(request("hi"))
    c = chain(spec(max_match=32), role="output")
    await c.on_request(ctx)
    resp = answer("reach me at bob@example.com")
    await c.on_response(ctx, resp)
    assert resp.choices[0].message.text() == "reach me at [email 1]"
    ctx = context(request("hi"))
    pieces = ["reach me at bob@", "exam", "ple.com or 4111 ", "1111 1111 1111 ", "later " * 20]
    out = await through(c, ctx, [TextDelta(p) for p in pieces])
    text = joined(out)
    assert "bob@" not in text and "4111" not in text
    assert text.startswith("reach me at [email 1] or [card 1] later")
    assert len(out) > 2  # text flowed before the end, not held whole


# ------------------------------------------------------------------ through a gateway


@pytest.fixture
async def gateway_with(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimServer, str]]:
    role, options = request.param
    entry = {"id": "pii", "type": "regex_redact", "options": options}
    async with gateway_with_entry(entry, role) as running:
        yield running


RESTORE = ("input", {"patterns": [{"name": "email", "regex": EMAIL}], "restore": True})
REDACT_OUT = ("output", {"patterns": [{"name": "email", "regex": EMAIL}]})


@pytest.mark.parametrize("gateway_with", [RESTORE], indirect=True)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("path", "make"),
    [
        (CHAT, chat),
        (MESSAGES, messages),
        ("/v1/responses", lambda t, stream: {"model": "openai-up", "input": t, "stream": stream}),
    ],
    ids=["openai_chat", "anthropic_messages", "openai_responses"],
)
async def test_redacted_upstream_restored_downstream(
    gateway_with: tuple[SimServer, str], path: str, make: Any, stream: bool
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, path, make("mail bob@example.com today", stream=stream))
    assert status == 200, raw
    sent = orjson.dumps(sim.requests[-1].body).decode()
    assert "[email 1]" in sent and "bob@example.com" not in sent
    text = raw.decode()
    assert "bob@example.com" in text and "[email 1]" not in text
    if stream and path == CHAT:
        assert "bob@example.com" in stream_text(raw)


@pytest.mark.parametrize("gateway_with", [REDACT_OUT], indirect=True)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_output_redaction_of_what_the_provider_said(
    gateway_with: tuple[SimServer, str], stream: bool
) -> None:
    sim, url = gateway_with
    status, raw = await call(url, CHAT, chat("mail bob@example.com today", stream=stream))
    assert status == 200, raw
    assert "bob@example.com" in orjson.dumps(sim.requests[-1].body).decode()
    assert "bob@example.com" not in raw.decode() and "[email 1]" in raw.decode()


@pytest.mark.parametrize("gateway_with", [REDACT_OUT], indirect=True)
async def test_a_stored_response_is_what_the_client_got(
    gateway_with: tuple[SimServer, str],
) -> None:
    """The Responses store kept non-stream answers from before the output filters ran:
    GET /v1/responses/{id} gave back what the filters had removed."""
    import aiohttp

    _sim, url = gateway_with
    body = {"model": "openai-up", "input": "mail bob@example.com today"}
    status, raw = await call(url, "/v1/responses", body)
    assert status == 200, raw
    answer_id = orjson.loads(raw)["id"]
    async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/responses/{answer_id}") as r:
        stored = await r.text()
    assert r.status == 200
    assert "bob@example.com" not in stored and "[email 1]" in stored
