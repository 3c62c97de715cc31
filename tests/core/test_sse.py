"""SSEParser and encode_event: events split anywhere, every line-end style, flush, raw bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.core.sse import SSEEvent, SSEParser, encode_event


def _feed_all(chunks: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    out.extend(p.flush())
    return out


def _fields(events: list[SSEEvent]) -> list[tuple[str, str | None, str | None]]:
    return [(e.data, e.event, e.id) for e in events]


STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a":1}\n\n'
    b"event: message_start\n"
    b"id: 7\n"
    b'data: {"b":"h\xc3\xa9llo"}\n\n'
    b"data: line one\n"
    b": a comment inside an event\n"
    b"data: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ('{"a":1}', None, None),
    ('{"b":"héllo"}', "message_start", "7"),
    ("line one\nline two", None, None),
    ("[DONE]", None, None),
]


def test_whole_stream_in_one_chunk() -> None:
    p = SSEParser()
    assert _fields(p.feed(STREAM)) == EXPECTED
    assert p.pending == 0
    assert p.flush() == []


def test_two_chunks_split_at_every_byte() -> None:
    # Includes cuts inside the two-byte UTF-8 sequence of "é" and inside "\n\n".
    for cut in range(1, len(STREAM)):
        got = _fields(_feed_all([STREAM[:cut], STREAM[cut:]]))
        assert got == EXPECTED, f"split at byte {cut}"


def test_one_byte_at_a_time() -> None:
    assert _fields(_feed_all([bytes([b]) for b in STREAM])) == EXPECTED


def test_event_is_emitted_as_soon_as_its_blank_line_arrives() -> None:
    p = SSEParser()
    assert p.feed(b"data: x\n") == []
    assert p.pending == len(b"data: x\n")
    (ev,) = p.feed(b"\n")
    assert ev.data == "x"
    assert p.pending == 0


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_end_styles(eol: bytes) -> None:
    stream = (b"event: e1" + eol + b"data: a" + eol + b"data: b" + eol + eol) + (
        b"data: c" + eol + eol
    )
    assert _fields(_feed_all([stream])) == [("a\nb", "e1", None), ("c", None, None)]
    # ...and byte by byte.
    assert _fields(_feed_all([bytes([b]) for b in stream])) == [
        ("a\nb", "e1", None),
        ("c", None, None),
    ]


def test_crlf_split_between_cr_and_lf() -> None:
    # The chunk ends between the CR and the LF of the terminating blank line.
    p = SSEParser()
    first = p.feed(b"data: x\r\n\r")
    rest = p.feed(b"\ndata: y\r\n\r\n")
    assert _fields(first + rest) == [("x", None, None), ("y", None, None)]
    assert p.pending == 0
    assert p.flush() == []


def test_cr_at_chunk_end_followed_by_lf_is_one_line_end() -> None:
    # "data: a\r" | "\ndata: b\r\n\r\n": if the held CR were counted as a line end on its own,
    # the next LF would make a blank line and split "a" and "b" into two events.
    events = _feed_all([b"data: a\r", b"\ndata: b\r\n\r\n"])
    assert _fields(events) == [("a\nb", None, None)]


def test_cr_at_chunk_end_followed_by_other_text_is_a_line_end() -> None:
    events = _feed_all([b"data: a\r", b"data: b\r\r"])
    assert _fields(events) == [("a\nb", None, None)]


def test_cr_terminated_event_is_emitted_without_waiting_for_the_next_chunk() -> None:
    p = SSEParser()
    assert _fields(p.feed(b"data: x\r\r")) == [("x", None, None)]


def test_field_parsing_rules() -> None:
    events = _feed_all(
        [
            b"data:no-space\n\n"  # the space after the colon is optional
            b"data:  two spaces\n\n"  # only one leading space is removed
            b"data\n\n"  # a field name alone is an empty value
            b"retry: 100\nfoo: bar\ndata: known\n\n"  # unknown fields are ignored
            b"data: a:b:c\n\n"  # colons in the value are kept
        ]
    )
    assert [e.data for e in events] == ["no-space", " two spaces", "", "known", "a:b:c"]


def test_comment_only_and_empty_blocks_produce_no_event() -> None:
    p = SSEParser()
    assert p.feed(b": ping\n\n\n\n: another\n\n") == []
    assert p.pending == 0


def test_flush_returns_an_unterminated_last_event() -> None:
    p = SSEParser()
    assert p.feed(b"data: first\n\ndata: last") == [SSEEvent("first", raw=b"data: first\n\n")]
    assert p.pending > 0
    (ev,) = p.flush()
    assert ev.data == "last"
    assert ev.raw == b"data: last\n\n"
    assert p.pending == 0
    assert p.flush() == []


@pytest.mark.parametrize("tail", [b"data: last\n", b"data: last\r", b"data: last\r\n"])
def test_flush_with_a_single_line_end(tail: bytes) -> None:
    p = SSEParser()
    assert p.feed(tail) == []
    assert [e.data for e in p.flush()] == ["last"]


def test_flush_of_a_comment_only_tail_is_empty() -> None:
    p = SSEParser()
    p.feed(b": just a comment")
    assert p.flush() == []


def test_raw_is_the_event_bytes_for_lf_streams() -> None:
    stream = b'data: {"x":1}\n\nevent: e\nid: 3\ndata: y\n\n'
    events = _feed_all([stream])
    assert [e.raw for e in events] == [b'data: {"x":1}\n\n', b"event: e\nid: 3\ndata: y\n\n"]
    assert b"".join(e.raw for e in events) == stream


def test_raw_of_a_crlf_event_is_normalised_to_lf() -> None:
    (ev,) = _feed_all([b"data: x\r\n\r\n"])
    assert ev.raw == b"data: x\n\n"


def test_encode_event() -> None:
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_event(b"{}", "ping") == b"event: ping\ndata: {}\n\n"


def test_encode_event_round_trips_through_the_parser() -> None:
    wire = encode_event(b'{"a":1}') + encode_event(b"{}", "message_stop")
    assert _fields(_feed_all([wire])) == [('{"a":1}', None, None), ("{}", "message_stop", None)]


# ---------------------------------------------------------------- property: split anywhere

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=20,
)
_event = st.tuples(
    st.lists(_text, min_size=1, max_size=3),  # data lines
    st.one_of(st.none(), _text.filter(lambda s: bool(s) and not s.startswith(" "))),
    st.booleans(),  # a comment line before the event
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(_event, min_size=1, max_size=5),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    terminate_last=st.booleans(),
)
def test_any_split_gives_the_same_events(
    events: list[tuple[list[str], str | None, bool]],
    eol: bytes,
    cuts: list[int],
    terminate_last: bool,
) -> None:
    wire = b""
    for data_lines, ev_name, comment in events:
        if comment:
            wire += b": note" + eol
        if ev_name is not None:
            wire += b"event: " + ev_name.encode() + eol
        for line in data_lines:
            wire += b"data: " + line.encode() + eol
        wire += eol
    if not terminate_last:
        wire = wire[: -len(eol)]  # the last event ends the stream without its blank line
    positions = sorted({c % (len(wire) + 1) for c in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *positions], [*positions, len(wire)], strict=True)]

    got = _feed_all(chunks)

    expected = [("\n".join(d), name, None) for d, name, _ in events]
    assert _fields(got) == expected
    assert got == _feed_all([wire])
