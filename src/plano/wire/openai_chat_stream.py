"""OpenAI chat completions streams, both ways (pure state machines).

:class:`StreamDecoder` turns an OpenAI-family upstream's ``chat.completion.chunk`` events into
canonical events; :class:`ChunkRenderer` turns canonical events from any family into the
chunks chat clients expect, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import time
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
from plano.errors import UpstreamProtocolError
from plano.wire.openai_chat_answer import FINISH_REASONS, decode_usage, render_usage

__all__ = ["ChunkRenderer", "StreamDecoder", "stream_error"]


class StreamDecoder:
    """OpenAI chat SSE ``data`` payloads to canonical events. ``done`` turns true on
    ``[DONE]``; a stream that ends without it was cut."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.done = False
        self.started = False

    @staticmethod
    def partial_usage() -> Usage | None:
        """OpenAI reports usage only in the last chunk."""
        return None

    @property
    def final(self) -> bool:
        return self.done

    def feed(self, data: str, event: str | None = None) -> list[StreamEvent]:
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError("The upstream sent a malformed stream chunk.") from exc
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError("The upstream sent a malformed stream chunk.")
        if "error" in chunk:
            err = chunk["error"] if isinstance(chunk["error"], dict) else {}
            return [StreamError(str(err.get("message", "upstream stream error")))]
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            events.append(StreamStart(str(chunk.get("id", "")), str(chunk.get("model", ""))))
        try:
            for c in chunk.get("choices") or ():
                self._choice(c, events)
        except (AttributeError, TypeError, ValueError) as exc:
            # Valid JSON of the wrong structure is the provider's fault, not a gateway bug.
            raise UpstreamProtocolError("The upstream sent a malformed stream chunk.") from exc
        usage = decode_usage(chunk.get("usage"))
        if usage is not None:
            events.append(UsageEvent(usage))
        return events

    @staticmethod
    def _choice(c: dict[str, Any], events: list[StreamEvent]) -> None:
        idx = int(c.get("index") or 0)
        delta = c.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(ThinkingDelta(reasoning, index=idx))
        text = delta.get("content")
        if isinstance(text, str) and text:
            events.append(TextDelta(text, idx))
        for tc in delta.get("tool_calls") or ():
            fn = tc.get("function") or {}
            events.append(
                ToolCallDelta(
                    int(tc.get("index") or 0),
                    tc.get("id"),
                    fn.get("name"),
                    fn.get("arguments") or "",
                    idx,
                )
            )
        finish = c.get("finish_reason")
        if finish:
            events.append(StreamEnd(FINISH_REASONS.get(finish, "stop"), idx))


class ChunkRenderer:
    """Canonical stream events to OpenAI chat SSE bytes (for upstreams of other families)."""

    def __init__(self, model: str, *, include_usage: bool, created: int | None = None) -> None:
        self.id = "chatcmpl-plano"
        self.model = model
        self.include_usage = include_usage
        self.created = created or int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return encode_event(orjson.dumps(body))

    def render(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, StreamStart):
            self.id = ev.id or self.id
            delta: dict[str, Any] = {"role": "assistant", "content": ""}
            return self._chunk([{"index": 0, "delta": delta, "finish_reason": None}])
        if isinstance(ev, TextDelta):
            return self._chunk([{"index": ev.index, "delta": {"content": ev.text}}])
        if isinstance(ev, ThinkingDelta):
            if not ev.text:
                return b""
            return self._chunk([{"index": ev.index, "delta": {"reasoning_content": ev.text}}])
        if isinstance(ev, ToolCallDelta):
            tc: dict[str, Any] = {"index": ev.tool_index, "function": {"arguments": ev.arguments}}
            if ev.id is not None:
                tc["id"] = ev.id
                tc["type"] = "function"
            if ev.name is not None:
                tc["function"]["name"] = ev.name
            return self._chunk([{"index": ev.index, "delta": {"tool_calls": [tc]}}])
        if isinstance(ev, StreamEnd):
            return self._chunk(
                [{"index": ev.index, "delta": {}, "finish_reason": ev.finish_reason}]
            )
        if isinstance(ev, UsageEvent):
            return self._chunk([], usage=render_usage(ev.usage)) if self.include_usage else b""
        return stream_error(ev.message, ev.error_type)

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"


def stream_error(message: str, error_type: str = "api_error") -> bytes:
    """An in-band error for a stream that has already started (the SDKs raise on it)."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return encode_event(orjson.dumps(body))
