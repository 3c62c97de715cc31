"""Canonical stream events back into one canonical response (pure).

Used where a streamed answer must be kept whole after it was relayed, e.g. the Responses
state store; tool-call arguments are joined across pieces by ``tool_index``.
"""

from __future__ import annotations

from plano.core.model import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    Part,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

__all__ = ["StreamAssembler"]


class StreamAssembler:
    """Feed the events of one stream (choice 0); :meth:`response` gives the whole answer."""

    __slots__ = (
        "_calls",
        "_signature",
        "_text",
        "_thinking",
        "failed",
        "finish",
        "id",
        "model",
        "usage",
    )

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.failed = False
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._signature: str | None = None
        self._calls: dict[int, ToolCall] = {}

    @property
    def complete(self) -> bool:
        """The stream reached its end without an error."""
        return self.finish is not None and not self.failed

    def feed(self, ev: StreamEvent) -> None:
        if isinstance(ev, StreamStart):
            self.id, self.model = ev.id, ev.model
        elif isinstance(ev, StreamError):
            self.failed = True
        elif isinstance(ev, UsageEvent):
            self.usage = ev.usage
        elif ev.index != 0:
            return  # other choices (OpenAI n > 1) are not kept
        elif isinstance(ev, TextDelta):
            self._text.append(ev.text)
        elif isinstance(ev, ThinkingDelta):
            self._thinking.append(ev.text)
            self._signature = ev.signature or self._signature
        elif isinstance(ev, ToolCallDelta):
            call = self._calls.get(ev.tool_index)
            if call is None:
                call = self._calls[ev.tool_index] = ToolCall(ev.id or "", ev.name or "", "")
            call.id = call.id or ev.id or ""
            call.name = call.name or ev.name or ""
            call.arguments += ev.arguments
        elif isinstance(ev, StreamEnd):
            self.finish = ev.finish_reason

    def response(self) -> ChatResponse:
        parts: list[Part] = []
        if self._thinking or self._signature:
            parts.append(ThinkingPart("".join(self._thinking), self._signature))
        text = "".join(self._text)
        if text:
            parts.append(TextPart(text))
        calls = [self._calls[k] for k in sorted(self._calls)]
        msg = Message("assistant", parts, calls)
        return ChatResponse(self.id, self.model, [Choice(0, msg, self.finish)], self.usage)
