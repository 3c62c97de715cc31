"""Incremental Server-Sent Events parsing and encoding (pure: bytes in, events out).

Upstream chunks split events anywhere (mid-line, mid-UTF-8 sequence, between ``\\r`` and
``\\n``); :class:`SSEParser` buffers only the unfinished tail, so memory per stream stays at
one event.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None
    #: The event's exact bytes as received, so a same-shape relay can forward them untouched.
    raw: bytes = b""


class SSEParser:
    """Feed bytes, get complete events. Implements the WHATWG event-stream rules we need:
    ``data`` lines joined with ``\\n``, ``event``/``id`` fields, comments ignored, CRLF, CR or
    LF line ends."""

    __slots__ = ("_buf", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False

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
        return self._split(self._buf + chunk if self._buf else chunk)

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
        self._buf = buf[start:]
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        buf, self._buf = self._buf.rstrip(b"\n"), b""
        if not buf:
            return []
        ev = _parse_block(buf)
        return [ev] if ev is not None else []

    @property
    def pending(self) -> int:
        return len(self._buf)


def _parse_block(block: bytes) -> SSEEvent | None:
    data: list[str] = []
    event: str | None = None
    ev_id: str | None = None
    for line in block.decode("utf-8", "replace").split("\n"):
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
    return SSEEvent("\n".join(data), event, ev_id, block + b"\n\n")


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; ``data`` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
