"""The matrix over recorded provider answers: every response and stream fixture of every upstream
family, decoded and rendered for every client shape, must read back (with that shape's client)
as the same text, tool calls, finish reason and usage. No network: pure modules only."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.conformance.clients import CLIENTS, Outcome
from tests.wire.conftest import FIXTURES, load, sse

from plano.core.assemble import StreamAssembler
from plano.core.model import ChatRequest, ChatResponse, Message
from plano.providers.registry import CODECS
from plano.wire.shapes import SHAPES

#: family -> fixture directory, non-stream answers, streams.
FIXTURE_SETS: dict[str, tuple[str, list[str], list[str]]] = {
    "openai": (
        "openai",
        ["chat_completion.json", "chat_completion_tool_calls.json"],
        ["chat_completion_tool_calls_stream.sse"],
    ),
    "anthropic": (
        "anthropic",
        ["message.json", "message_tool_use.json"],
        ["stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse"],
    ),
    "gemini": (
        "gemini",
        ["generate_response.json", "function_call.json", "safety_finish.json"],
        ["stream.sse", "stream_function_call.sse"],
    ),
    "openai_responses": (
        "responses",
        ["response.json", "response_function_call.json", "response_incomplete.json"],
        ["stream.sse", "stream_function_call.sse"],
    ),
}
SHAPE_NAMES = ["openai_chat", "anthropic_messages", "openai_responses"]


def expected(resp: ChatResponse) -> Outcome:
    choice = resp.choices[0]
    msg: Message = choice.message
    calls = [(c.name, orjson.loads(c.arguments or "{}")) for c in msg.tool_calls]
    finish = "tool_calls" if calls else (choice.finish_reason or "stop")
    u = resp.usage
    usage = None
    if u is not None:
        usage = (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.reasoning_tokens,
        )
    return Outcome(msg.text(), calls, finish, usage)


def same(got: Outcome, want: Outcome, shape: str) -> None:
    assert got.text == want.text
    assert got.calls == want.calls
    assert got.finish == want.finish
    assert want.usage is not None and got.usage is not None
    g, w = list(got.usage), list(want.usage)
    if shape != "anthropic_messages":
        g[3] = w[3] = 0  # cache writes have no field in the OpenAI shapes
    assert g == w


NON_STREAM = [
    (family, name, shape)
    for family, (_, answers, _) in FIXTURE_SETS.items()
    for name in answers
    for shape in SHAPE_NAMES
]
STREAMS = [
    (family, name, shape)
    for family, (_, _, streams) in FIXTURE_SETS.items()
    for name in streams
    for shape in SHAPE_NAMES
]


@pytest.mark.parametrize(("family", "name", "shape"), NON_STREAM)
def test_recorded_answer_reads_back_in_every_shape(family: str, name: str, shape: str) -> None:
    folder = FIXTURE_SETS[family][0]
    resp = CODECS[family].decode_response(load(folder, name))
    want = expected(resp)
    rendered: dict[str, Any] = orjson.loads(orjson.dumps(SHAPES[shape].render_response(resp)))
    same(CLIENTS[shape].parse(rendered), want, shape)


@pytest.mark.parametrize(("family", "name", "shape"), STREAMS)
def test_recorded_stream_reads_back_in_every_shape(family: str, name: str, shape: str) -> None:
    folder = FIXTURE_SETS[family][0]
    decoder = CODECS[family].stream_decoder()
    assembler = StreamAssembler()
    req = ChatRequest("m", [], stream=True, include_usage=True, answer_id="resp_fixture")
    renderer = SHAPES[shape].stream_renderer("model-x", req)
    out = b""
    for ev in sse(folder, name):
        for canonical in decoder.feed(ev.data, ev.event):
            assembler.feed(canonical)
            out += renderer.render(canonical)
    assert decoder.done and assembler.complete
    out += renderer.done()
    got = CLIENTS[shape].parse_stream(out)
    assert got.ended and got.error is None
    same(got, expected(assembler.response()), shape)


def test_every_fixture_is_in_the_matrix() -> None:
    for _family, (folder, answers, streams) in FIXTURE_SETS.items():
        on_disk = {p.name for p in (FIXTURES / folder).iterdir()}
        # Error streams are checked where errors are (tests/wire); they read back as errors.
        complete = {n for n in on_disk if n.endswith(".sse") and "error" not in n}
        assert set(streams) == complete, folder
        assert set(answers) <= on_disk
