"""OpenAI Responses streams, both ways (pure state machines).

:class:`StreamDecoder` turns a Responses upstream's events into canonical events.
:class:`EventRenderer` turns canonical events from any family into the Responses event
sequence the SDKs check strictly: one response id throughout, every output item ``added`` then
``done`` with the same id and index, and a final ``response.completed`` (``incomplete`` when cut
by the token limit or a filter) whose output repeats those items. Failures are an ``error``
event followed by ``response.failed``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from plano.core.model import (
    FinishReason,
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
from plano.wire.openai_responses_answer import (
    decode_usage,
    finish_of,
    response_id,
    response_object,
)

__all__ = ["EventRenderer", "StreamDecoder", "stream_error"]


class StreamDecoder:
    """Responses SSE events to canonical events; ``done`` turns true on ``response.completed``
    or ``response.incomplete``."""

    __slots__ = ("_streamed", "_tools", "done")

    def __init__(self) -> None:
        self.done = False
        #: output_index -> tool index, for function_call items.
        self._tools: dict[int, int] = {}
        #: function_call items whose arguments arrived as deltas.
        self._streamed: set[int] = set()

    @staticmethod
    def partial_usage() -> Usage | None:
        """Responses report usage only with the final event."""
        return None

    @property
    def final(self) -> bool:
        return self.done

    def feed(self, data: str, event: str | None = None) -> list[StreamEvent]:
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError("The upstream sent a malformed stream event.") from exc
        if not isinstance(ev, dict):
            raise UpstreamProtocolError("The upstream sent a malformed stream event.")
        kind = ev.get("type") or event
        at = int(ev.get("output_index") or 0)
        if kind == "response.created":
            resp = ev.get("response") or {}
            return [StreamStart(str(resp.get("id", "")), str(resp.get("model", "")))]
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return [TextDelta(str(ev.get("delta", "")))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ThinkingDelta(str(ev.get("delta", "")))]
        if kind == "response.function_call_arguments.delta" and at in self._tools:
            self._streamed.add(at)
            return [ToolCallDelta(self._tools[at], arguments=str(ev.get("delta", "")))]
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(kind, at, ev.get("item") or {})
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
            resp = ev.get("response") or {}
            finish = finish_of(resp, bool(self._tools))
            usage = decode_usage(resp.get("usage"))
            # No usage reported: no event, so accounting counts (never a free answer).
            return [StreamEnd(finish)] if usage is None else [StreamEnd(finish), UsageEvent(usage)]
        if kind == "response.failed":
            err = (ev.get("response") or {}).get("error") or {}
            return [StreamError(str(err.get("message") or "The upstream response failed."))]
        if kind == "error":
            return [StreamError(str(ev.get("message") or "upstream stream error"))]
        return []

    def _item(self, kind: str, at: int, item: dict[str, Any]) -> list[StreamEvent]:
        if item.get("type") != "function_call":
            return []
        args = str(item.get("arguments") or "")
        if kind == "response.output_item.added":
            tool = self._tools[at] = len(self._tools)
            if args:
                self._streamed.add(at)
            call_id, name = str(item.get("call_id", "")), str(item.get("name", ""))
            return [ToolCallDelta(tool, call_id, name, args)]
        # Some servers send whole arguments only on the finished item.
        if at in self._tools and at not in self._streamed and args:
            self._streamed.add(at)
            return [ToolCallDelta(self._tools[at], arguments=args)]
        return []


class EventRenderer:
    """Canonical stream events to Responses SSE bytes (for upstreams of other families)."""

    def __init__(
        self, model: str, *, answer_id: str | None = None, created: int | None = None
    ) -> None:
        self.model = model
        self.id = answer_id
        self.created = created or int(time.time())
        self._seq = 0
        self._started = False
        #: Output items in output_index order; each is the item as it will be when done.
        self._items: list[dict[str, Any]] = []
        self._open: set[int] = set()
        self._text: int | None = None
        self._reasoning: int | None = None
        self._tools: dict[int, int] = {}
        self._finish: FinishReason = "stop"
        self._usage: Usage | None = None
        #: After ``response.failed`` the stream is over; later events render nothing.
        self._failed = False

    def _event(self, name: str, **data: Any) -> bytes:
        body = {"type": name, "sequence_number": self._seq, **data}
        self._seq += 1
        return encode_event(orjson.dumps(body), name)

    def _response(self, status: str, **kw: Any) -> dict[str, Any]:
        assert self.id is not None
        output = list(self._items) if status != "in_progress" else []
        return response_object(
            self.id, self.model, self.created, output, status=status, usage=self._usage, **kw
        )

    def _start(self, upstream_id: str = "") -> bytes:
        self._started = True
        self.id = self.id or response_id(upstream_id)
        opening = self._response("in_progress")
        return self._event("response.created", response=opening) + self._event(
            "response.in_progress", response=opening
        )

    def _add(self, item: dict[str, Any], opened: dict[str, Any]) -> tuple[int, bytes]:
        at = len(self._items)
        self._items.append(item)
        self._open.add(at)
        return at, self._event("response.output_item.added", output_index=at, item=opened)

    def render(self, ev: StreamEvent) -> bytes:
        if self._failed:
            return b""
        if isinstance(ev, StreamStart):
            return b"" if self._started else self._start(ev.id)
        head = b"" if self._started else self._start()
        if isinstance(ev, TextDelta):
            return head + (self._text_delta(ev.text) if ev.text else b"")
        if isinstance(ev, ThinkingDelta):
            return head + self._thinking(ev)
        if isinstance(ev, ToolCallDelta):
            return head + self._tool(ev)
        if isinstance(ev, StreamEnd):
            self._finish = ev.finish_reason
            return head + self._close_all()
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
            return head
        return head + self._fail(ev.message, ev.error_type)

    def _base(self) -> str:
        assert self.id is not None
        return self.id.removeprefix("resp_")

    def _text_delta(self, text: str) -> bytes:
        out = self._close(self._reasoning)
        if self._text is None:
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            item: dict[str, Any] = {
                "id": f"msg_{self._base()}_{len(self._items)}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
            opened = {**item, "status": "in_progress", "content": []}
            self._text, added = self._add(item, opened)
            empty = {"type": "output_text", "text": "", "annotations": []}
            out += added + self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._text,
                content_index=0,
                part=empty,
            )
        item = self._items[self._text]
        item["content"][0]["text"] += text
        return out + self._event(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=self._text,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _thinking(self, ev: ThinkingDelta) -> bytes:
        if not ev.text and not ev.signature:
            return b""
        out = b""
        if self._reasoning is None:
            item: dict[str, Any] = {
                "id": f"rs_{self._base()}_{len(self._items)}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": ""}],
            }
            self._reasoning, out = self._add(item, {**item, "summary": []})
            out += self._event(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=self._reasoning,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        item = self._items[self._reasoning]
        if ev.signature:
            item["encrypted_content"] = ev.signature
        if ev.text:
            item["summary"][0]["text"] += ev.text
            out += self._event(
                "response.reasoning_summary_text.delta",
                item_id=item["id"],
                output_index=self._reasoning,
                summary_index=0,
                delta=ev.text,
            )
        return out

    def _tool(self, ev: ToolCallDelta) -> bytes:
        out = b""
        if ev.tool_index not in self._tools:
            out = self._close(self._text) + self._close(self._reasoning)
            item: dict[str, Any] = {
                "id": f"fc_{self._base()}_{len(self._items)}",
                "type": "function_call",
                "status": "completed",
                "call_id": ev.id or f"call_plano_{ev.tool_index}",
                "name": ev.name or "",
                "arguments": "",
            }
            at, added = self._add(item, {**item, "status": "in_progress"})
            self._tools[ev.tool_index] = at
            out += added
        at = self._tools[ev.tool_index]
        if not ev.arguments:
            return out
        item = self._items[at]
        item["arguments"] += ev.arguments
        return out + self._event(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=at,
            delta=ev.arguments,
        )

    def _close(self, at: int | None) -> bytes:
        if at is None or at not in self._open:
            return b""
        self._open.discard(at)
        item = self._items[at]
        where = {"item_id": item["id"], "output_index": at}
        out = b""
        if item["type"] == "message":
            self._text = None
            part = item["content"][0]
            closed = {k: v for k, v in part.items() if k != "logprobs"}
            out += self._event(
                "response.output_text.done",
                **where,
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
            out += self._event("response.content_part.done", **where, content_index=0, part=closed)
        elif item["type"] == "reasoning":
            self._reasoning = None
            part = item["summary"][0]
            out += self._event(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=part["text"]
            )
            out += self._event(
                "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
        else:
            out += self._event(
                "response.function_call_arguments.done", **where, arguments=item["arguments"]
            )
        return out + self._event("response.output_item.done", output_index=at, item=item)

    def _close_all(self) -> bytes:
        return b"".join(self._close(at) for at in sorted(self._open))

    def _fail(self, message: str, code: str) -> bytes:
        self._failed = True
        failed = self._response("failed", error={"code": code, "message": message})
        return self._event("error", code=code, message=message, param=None) + self._event(
            "response.failed", response=failed
        )

    def done(self) -> bytes:
        if self._failed:
            return b""
        head = b"" if self._started else self._start()
        out = head + self._close_all()
        if self._finish in ("length", "content_filter"):
            reason = "max_output_tokens" if self._finish == "length" else "content_filter"
            final = self._response("incomplete", incomplete={"reason": reason})
            return out + self._event("response.incomplete", response=final)
        return out + self._event("response.completed", response=self._response("completed"))


def stream_error(err: PlanoError) -> bytes:
    """The in-band failure for a stream that already started and whose renderer is gone (the
    relay calls this without renderer state): an ``error`` event the SDKs surface."""
    body = {
        "type": "error",
        "code": err.code or err.error_type,
        "message": err.message,
        "param": err.param,
        "sequence_number": 0,
    }
    return encode_event(orjson.dumps(body), "error")
