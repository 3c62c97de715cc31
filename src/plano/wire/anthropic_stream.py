"""Anthropic Messages streams, both ways (pure state machines).

:class:`StreamDecoder` turns an Anthropic upstream's events (``message_start`` ...
``message_stop``) into canonical events; :class:`EventRenderer` turns canonical events from
any family into the event sequence Anthropic clients (the SDK's accumulator, Claude Code)
expect: one ``message_start``, content blocks opened and closed in order, then
``message_delta`` with the stop reason and the cumulative usage, then ``message_stop``.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano.core.model import (
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.core.sse import encode_event
from plano.errors import PlanoError, UpstreamProtocolError
from plano.wire.anthropic_answer import (
    ERROR_TYPES,
    STOP_OF_FINISH,
    decode_usage,
    error_body,
    finish_of,
    message_id,
    render_usage,
)

__all__ = ["EventRenderer", "StreamDecoder", "stream_error"]

_STATUS_OF_TYPE = {etype: status for status, etype in ERROR_TYPES.items()}


class StreamDecoder:
    """Anthropic SSE events to canonical events; ``done`` turns true on ``message_stop``."""

    __slots__ = ("_empty", "_final", "_tools", "_usage", "done")

    def __init__(self) -> None:
        self.done = False
        #: content block index -> tool index (the n-th tool_use block of the message).
        self._tools: dict[int, int] = {}
        #: tool blocks that have not sent an argument piece yet.
        self._empty: set[int] = set()
        self._usage: dict[str, Any] = {}
        #: message_delta reported the output side (message_start only has the input side).
        self._final = False

    def partial_usage(self) -> Usage | None:
        """What was reported before the stream ended or was cut: message_start's input and
        cache tokens (output still to be counted), or message_delta's totals."""
        u = decode_usage(self._usage) if self._usage else None
        if u is not None:
            u.has_output = self._final
        return u

    @property
    def final(self) -> bool:
        return self.done

    def feed(self, data: str, event: str | None = None) -> list[StreamEvent]:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError("The upstream sent a malformed stream event.") from exc
        if not isinstance(payload, dict):
            raise UpstreamProtocolError("The upstream sent a malformed stream event.")
        kind = payload.get("type") or event
        if kind == "message_start":
            msg = payload.get("message") or {}
            self._usage = dict(msg.get("usage") or {})
            return [StreamStart(str(msg.get("id", "")), str(msg.get("model", "")))]
        if kind == "content_block_start":
            return self._start(int(payload.get("index") or 0), payload.get("content_block") or {})
        if kind == "content_block_delta":
            return self._delta(int(payload.get("index") or 0), payload.get("delta") or {})
        if kind == "content_block_stop":
            return self._stop(int(payload.get("index") or 0))
        if kind == "message_delta":
            # message_delta usage is cumulative; absent fields keep message_start's values.
            usage = payload.get("usage")
            if isinstance(usage, dict):
                self._usage.update({k: v for k, v in usage.items() if v is not None})
                self._final = True
            stop = (payload.get("delta") or {}).get("stop_reason")
            u = decode_usage(self._usage) if self._usage else None
            if u is None:  # nothing reported: accounting counts, never a free answer
                return [StreamEnd(finish_of(stop))]
            u.has_output = self._final
            return [StreamEnd(finish_of(stop)), UsageEvent(u)]
        if kind == "message_stop":
            self.done = True
            return []
        if kind == "error":
            err = payload.get("error") or {}
            etype = str(err.get("type") or "api_error")
            message = str(err.get("message") or "upstream stream error")
            return [StreamError(message, _STATUS_OF_TYPE.get(etype, 502), etype)]
        return []  # ping and future event types

    def _start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            tool = self._tools[index] = len(self._tools)
            given = block.get("input")
            args = orjson.dumps(given).decode() if given else ""
            if not args:
                self._empty.add(index)
            return [ToolCallDelta(tool, str(block.get("id", "")), str(block.get("name", "")), args)]
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking" and block.get("thinking"):
            return [ThinkingDelta(str(block["thinking"]))]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text", "")))]
        if kind == "input_json_delta" and index in self._tools:
            piece = str(delta.get("partial_json", ""))
            if piece:
                self._empty.discard(index)
            return [ToolCallDelta(self._tools[index], arguments=piece)]
        if kind == "thinking_delta":
            return [ThinkingDelta(str(delta.get("thinking", "")))]
        if kind == "signature_delta":
            return [ThinkingDelta("", signature=str(delta.get("signature", "")))]
        return []

    def _stop(self, index: int) -> list[StreamEvent]:
        if index in self._empty:
            # A call without arguments still has an (empty) JSON object as arguments.
            self._empty.discard(index)
            return [ToolCallDelta(self._tools[index], arguments="{}")]
        return []


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_event(orjson.dumps(data), name)


class EventRenderer:
    """Canonical stream events to Anthropic SSE bytes (for upstreams of other families)."""

    def __init__(self, model: str, *, answer_id: str | None = None) -> None:
        self.model = model
        self.id = answer_id
        self._started = False
        self._index = -1
        #: Kind of the open content block (``text``, ``thinking``, ``tool``) or None.
        self._open: str | None = None
        #: tool index -> content block index.
        self._tool_blocks: dict[int, int] = {}
        self._finish = "stop"
        self._usage = Usage()
        #: After an error event the stream is over; later events (a second report of the
        #: same failure) render nothing.
        self._failed = False

    def _message_start(self, upstream_id: str = "") -> bytes:
        self._started = True
        self.id = self.id or message_id(upstream_id)
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Other families report usage at the end; message_delta carries the totals.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        if self._open == kind and kind != "tool":
            return b""
        out = self._close()
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + _event("content_block_start", start)

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": index, "delta": delta}
        return _event("content_block_delta", body)

    def render(self, ev: StreamEvent) -> bytes:
        if self._failed:
            return b""
        if isinstance(ev, StreamStart):
            return b"" if self._started else self._message_start(ev.id)
        head = b"" if self._started else self._message_start()
        return head + self._render(ev)

    def _render(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, TextDelta):
            if not ev.text:
                return b""
            out = self._open_block("text", {"type": "text", "text": ""})
            return out + self._delta(self._index, {"type": "text_delta", "text": ev.text})
        if isinstance(ev, ThinkingDelta):
            return self._thinking(ev)
        if isinstance(ev, ToolCallDelta):
            return self._tool(ev)
        if isinstance(ev, StreamEnd):
            self._finish = ev.finish_reason
            return self._close()
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
            return b""
        if isinstance(ev, StreamError):
            self._failed = True
            body = {"type": "error", "error": {"type": ev.error_type, "message": ev.message}}
            return self._close() + _event("error", body)
        return b""

    def _thinking(self, ev: ThinkingDelta) -> bytes:
        if not ev.text and not ev.signature:
            return b""
        out = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        if ev.text:
            out += self._delta(self._index, {"type": "thinking_delta", "thinking": ev.text})
        if ev.signature:
            out += self._delta(self._index, {"type": "signature_delta", "signature": ev.signature})
        return out

    def _tool(self, ev: ToolCallDelta) -> bytes:
        out = b""
        if ev.tool_index not in self._tool_blocks:
            block = {
                "type": "tool_use",
                "id": ev.id or f"toolu_plano_{ev.tool_index}",
                "name": ev.name or "",
                "input": {},
            }
            out = self._open_block("tool", block)
            self._tool_blocks[ev.tool_index] = self._index
        if ev.arguments:
            # A late piece of an earlier call keeps that call's block index (the SDKs
            # accumulate by index), rather than being lost.
            delta = {"type": "input_json_delta", "partial_json": ev.arguments}
            out += self._delta(self._tool_blocks[ev.tool_index], delta)
        return out

    def done(self) -> bytes:
        if self._failed:
            return b""
        head = b"" if self._started else self._message_start()
        finish = "tool_calls" if self._tool_blocks else self._finish
        delta = {"stop_reason": STOP_OF_FINISH.get(finish, "end_turn"), "stop_sequence": None}
        body = {"type": "message_delta", "delta": delta, "usage": render_usage(self._usage)}
        return (
            head
            + self._close()
            + _event("message_delta", body)
            + _event("message_stop", {"type": "message_stop"})
        )


def stream_error(err: PlanoError) -> bytes:
    """Anthropic's in-band error event for a stream that already started."""
    return _event("error", error_body(err))
