"""A filter's rewrite reaches the wire, in every (client shape x upstream family) pair, stream
and non-stream: a reversible redacting filter replaces a card number with a placeholder in
the request (the provider must see only the placeholder) and restores it in the answer (the
client must see the number, never the placeholder). The simulated provider echoes the prompt,
so the placeholder comes back, split across stream events, and must be put back together."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import ClassVar

import orjson
import pytest
from tests.conformance.clients import CLIENTS, Turn, call
from tests.conformance.harness import NAMES, Env, serve

from plano.core.model import ChatResponse, StreamEvent, TextDelta, TextPart
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.wire.capabilities import CLIENT_SHAPES, FAMILIES

CARD = "4111-1111-1111-1111"
#: The placeholder has spaces, so the simulator streams it as several events.
PLACEHOLDER = "[card number 1]"
_CARD = re.compile(r"\b4111-1111-1111-1111\b")


class Redact(Filter):
    """Reversible redaction (the shape of the PII filter to come): request text out, answer
    text back, holding stream text that may be the start of a placeholder."""

    name: ClassVar[str] = "redact"

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        assert req is not None
        changed = False
        for m in req.messages:
            for p in m.content:
                if isinstance(p, TextPart) and _CARD.search(p.text):
                    p.text = _CARD.sub(PLACEHOLDER, p.text)
                    changed = True
        if changed:
            req.changed()
            ctx.state[self.name] = ""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        if self.name not in ctx.state:
            return
        for c in resp.choices:
            for p in c.message.content:
                if isinstance(p, TextPart):
                    p.text = p.text.replace(PLACEHOLDER, CARD)
        resp.changed()

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        if self.name not in ctx.state:
            return (ev,)
        held: str = ctx.state[self.name]
        if isinstance(ev, TextDelta):
            text = (held + ev.text).replace(PLACEHOLDER, CARD)
            cut = _keep_from(text)
            ctx.state[self.name] = text[cut:]
            return (TextDelta(text[:cut], ev.index),) if cut else ()
        # The answer's text ends here: release what is held before the closing event.
        ctx.state[self.name] = ""
        return (TextDelta(held), ev) if held else (ev,)

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        held = ctx.state.get(self.name, "")
        ctx.state[self.name] = ""
        return (TextDelta(held),) if held else ()


def _keep_from(text: str) -> int:
    """Where the part of ``text`` that may still become a placeholder starts."""
    for i in range(max(0, len(text) - len(PLACEHOLDER) + 1), len(text)):
        if PLACEHOLDER.startswith(text[i:]):
            return i
    return len(text)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serve(filters=[Redact()]) as e:
        yield e


PAIRS = [(shape, family) for shape in CLIENT_SHAPES for family in FAMILIES]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("shape", "family"), PAIRS)
def test_redaction_reaches_the_provider_and_is_undone_for_the_client(
    env: Env, shape: str, family: str, stream: bool
) -> None:
    client = CLIENTS[shape]
    turns = [Turn("user", f"Charge {CARD} for the order")]
    body = client.body(NAMES[family], turns, None, [], stream)
    r, parse = call(env.url, client, body)
    assert r.status_code == 200, r.text
    out = parse()
    sent = orjson.dumps(env.last_upstream().body).decode()
    assert PLACEHOLDER in sent and CARD not in sent
    assert CARD in out.text and PLACEHOLDER not in out.text
    if stream:
        assert out.ended and out.error is None


def test_without_anything_to_redact_the_client_bytes_pass_untouched(env: Env) -> None:
    client = CLIENTS["openai_chat"]
    body = client.body(NAMES["openai"], [Turn("user", "nothing secret here")], None, [], False)
    body["seed"] = 42  # a parameter the canonical model does not carry
    r, parse = call(env.url, client, body)
    assert r.status_code == 200, r.text
    assert env.last_upstream().body["seed"] == 42
    assert "nothing secret here" in parse().text


def test_a_rewritten_anthropic_request_keeps_its_other_parameters(env: Env) -> None:
    client = CLIENTS["anthropic_messages"]
    body = client.body(NAMES["anthropic"], [Turn("user", f"card {CARD}")], None, [], False)
    body["top_k"] = 7  # not in the canonical model
    r, _parse = call(env.url, client, body)
    assert r.status_code == 200, r.text
    sent = env.last_upstream().body
    assert sent["top_k"] == 7 and PLACEHOLDER in orjson.dumps(sent).decode()


def test_content_a_rewrite_cannot_carry_is_refused_not_dropped(env: Env) -> None:
    client = CLIENTS["anthropic_messages"]
    body = client.body(NAMES["anthropic"], [Turn("user", f"card {CARD}")], None, [], False)
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    body["messages"][0]["content"] = [doc, {"type": "text", "text": f"card {CARD}"}]
    before = len(env.sim.requests)
    r, _parse = call(env.url, client, body)
    assert r.status_code == 400
    assert "cannot encode again" in r.json()["error"]["message"]
    assert len(env.sim.requests) == before  # nothing reached the provider
