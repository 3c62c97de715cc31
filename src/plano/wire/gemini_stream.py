"""Gemini ``streamGenerateContent?alt=sse`` to canonical events (pure state machine).

Each SSE event is a whole ``GenerateContentResponse`` holding the next parts. Gemini has no
end marker: the chunk with a ``finishReason`` is the last one, so ``done`` turns true there
(a stream cut before it ends with an error event, never a clean-looking end). Function calls
arrive whole, so each becomes one :class:`ToolCallDelta` with id, name and all arguments.
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
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.errors import UpstreamProtocolError
from plano.wire.gemini import decode_parts, decode_usage, finish_of

__all__ = ["StreamDecoder"]

_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class StreamDecoder:
    """Gemini SSE chunks to canonical events."""

    __slots__ = ("_calls", "_id", "_usage", "done", "started")

    def __init__(self) -> None:
        self.done = False
        self.started = False
        self._calls = 0
        self._id = ""
        self._usage: Usage | None = None

    @property
    def final(self) -> bool:
        """The last candidate arrived and so did usage (it may trail the last candidate)."""
        return self.done and self._usage is not None

    def partial_usage(self) -> Usage | None:
        """The last cumulative ``usageMetadata``: it covers every chunk up to that one."""
        return self._usage

    def feed(self, data: str, event: str | None = None) -> list[StreamEvent]:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError("The upstream sent a malformed stream chunk.") from exc
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError("The upstream sent a malformed stream chunk.")
        if isinstance(chunk.get("error"), dict):
            err = chunk["error"]
            status = str(err.get("status") or "")
            message = str(err.get("message") or "upstream stream error")
            return [StreamError(message, _STATUS.get(status, 502))]
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            self._id = str(chunk.get("responseId", ""))
            events.append(StreamStart(self._id, str(chunk.get("modelVersion", ""))))
        usage = decode_usage(chunk.get("usageMetadata"))
        if usage is not None:
            self._usage = usage
        candidates = chunk.get("candidates")
        cand: dict[str, Any] = {}
        if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
            cand = candidates[0]
        self._parts((cand.get("content") or {}).get("parts"), events)
        reason = cand.get("finishReason")
        if reason is None and (chunk.get("promptFeedback") or {}).get("blockReason"):
            reason = "SAFETY"
        if reason is not None and not self.done:
            self.done = True
            events.append(StreamEnd(finish_of(reason, self._calls > 0)))
            if self._usage is not None:
                events.append(UsageEvent(self._usage))
        elif self.done and usage is not None:
            self._usage = usage
            events.append(UsageEvent(usage))  # usage that trails the last candidate
        return events

    def _parts(self, parts: Any, events: list[StreamEvent]) -> None:
        content, calls = decode_parts(parts, self._id, self._calls)
        for p in content:
            if isinstance(p, ThinkingPart):
                events.append(ThinkingDelta(p.text, p.signature))
            elif isinstance(p, TextPart):
                events.append(TextDelta(p.text))
        for c in calls:
            events.append(ToolCallDelta(self._calls, c.id, c.name, c.arguments))
            self._calls += 1
