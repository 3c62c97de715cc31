"""Incremental Server-Sent Events parsing and encoding (pure: bytes in, events out).

Upstream chunks split events anywhere (mid-line, mid-UTF-8 sequence, between ``\\r`` and
``\\n``); :class:`SSEParser` buffers only the unfinished tail, so memory per stream stays at
one event.
"""

from __future__ import annotations

from dataclasses import dataclass

from plano.errors import UpstreamProtocolError

__all__ = ["MAX_EVENT_BYTES", "SSEEvent", "SSEParser", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None
    #: The event's exact bytes as received, so a same-shape relay can forward them untouched.
    raw: bytes = b""
    #: False when the bytes were not valid UTF-8 (``data`` then holds replacement characters).
    valid: bool = True


#: An event larger than this ends the stream (the Responses API's final event repeats the
#: whole answer, so it is generous).
MAX_EVENT_BYTES = 64 * 1024 * 1024


class SSEParser:
    """Feed bytes, get complete events. Implements the WHATWG event-stream rules we need:
    ``data`` lines joined with ``\\n``, ``event``/``id`` fields, comments ignored, CRLF, CR or
    LF line ends.

    An unfinished event is kept as a list of chunks and joined only once a chunk can end it,
    so a large event costs O(its size), not O(size x chunks)."""

    __slots__ = ("_max", "_parts", "_size", "_skip_lf")

    def __init__(self, max_event: int = MAX_EVENT_BYTES) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._skip_lf = False
        self._max = max_event

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf:
            # The previous chunk ended in CR: a leading LF here is the second half of CRLF.
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A trailing CR already ends its line (so CR-only streams are not held back).
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not self._parts:
            return self._split(chunk)
        if b"\n\n" not in chunk and not (
            chunk.startswith(b"\n") and self._parts[-1].endswith(b"\n")
        ):
            self._keep(chunk)
            return []
        buf = b"".join(self._parts) + chunk
        self._parts, self._size = [], 0
        return self._split(buf)

    def _keep(self, piece: bytes) -> None:
        if piece:
            self._parts.append(piece)
            self._size += len(piece)
            if self._size > self._max:
                raise UpstreamProtocolError(
                    f"The upstream sent a stream event larger than {self._max} bytes."
                )

    def _split(self, buf: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            block = buf[start:end]
            start = end + 2
            ev = _parse_block(block)
            if ev is not None:
                events.append(ev)
        self._keep(buf[start:] if start else buf)
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        buf = b"".join(self._parts).rstrip(b"\n")
        self._parts, self._size = [], 0
        if not buf:
            return []
        ev = _parse_block(buf)
        return [ev] if ev is not None else []

    @property
    def pending(self) -> int:
        return self._size


def _parse_block(block: bytes) -> SSEEvent | None:
    data: list[str] = []
    event: str | None = None
    ev_id: str | None = None
    valid = True
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text, valid = block.decode("utf-8", "replace"), False
    for line in text.split("\n"):
        if not line or line[0] == ":":
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            ev_id = value
    if not data and event is None:
        return None
    return SSEEvent("\n".join(data), event, ev_id, block + b"\n\n", valid)


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; ``data`` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
