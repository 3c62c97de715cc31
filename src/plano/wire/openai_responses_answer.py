"""OpenAI Responses answers, both ways (pure): the ``response`` object a client gets, and an
upstream's ``response`` object decoded to the canonical response.

The stream renderer builds its final ``response.completed`` object with
:func:`response_object` too, so a streamed and a non-stream answer look the same.
"""

from __future__ import annotations

import re
import time
from typing import Any

from plano.core.model import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)
from plano.errors import UpstreamProtocolError
from plano.wire.openai_chat_answer import error_body

__all__ = [
    "decode_response",
    "decode_usage",
    "error_body",
    "finish_of",
    "output_items",
    "render_response",
    "render_usage",
    "response_id",
    "response_object",
]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def response_id(answer_id: str) -> str:
    """A Responses-looking id for an answer (kept when it already is one)."""
    if answer_id.startswith("resp_"):
        return answer_id
    return "resp_" + (_UNSAFE.sub("", answer_id) or "plano")


def decode_usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    cached = (u.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (u.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(
        input_tokens=int(u.get("input_tokens") or 0),
        output_tokens=int(u.get("output_tokens") or 0),
        cache_read_tokens=int(cached),
        reasoning_tokens=int(reasoning),
    )


def render_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


def _status(finish: FinishReason | None) -> tuple[str, dict[str, str] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    rid: str,
    model: str,
    created: int,
    output: list[dict[str, Any]],
    *,
    status: str,
    usage: Usage | None,
    incomplete: dict[str, str] | None = None,
    error: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, with the request-echo fields at their API defaults."""
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "metadata": {},
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": render_usage(usage) if usage is not None else None,
    }


def output_items(msg: Message, rid: str) -> list[dict[str, Any]]:
    """An answer's output items, with ids derived from the response id."""
    base = rid.removeprefix("resp_")
    items: list[dict[str, Any]] = []
    thinking = [p for p in msg.content if isinstance(p, ThinkingPart) and p.redacted is None]
    if thinking:
        text = "".join(p.text for p in thinking)
        item: dict[str, Any] = {
            "id": f"rs_{base}",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}] if text else [],
        }
        sig = next((p.signature for p in thinking if p.signature), None)
        if sig:
            item["encrypted_content"] = sig
        items.append(item)
    text = msg.text()
    if text or not msg.tool_calls:
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": f"msg_{base}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    items += [
        {
            "id": f"fc_{base}_{j}",
            "type": "function_call",
            "status": "completed",
            "call_id": c.id,
            "name": c.name,
            "arguments": c.arguments,
        }
        for j, c in enumerate(msg.tool_calls)
    ]
    return items


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """A canonical response as a Responses ``response`` object."""
    rid = response_id(resp.id)
    choice = resp.choices[0] if resp.choices else Choice(0, Message("assistant"), "stop")
    status, incomplete = _status(choice.finish_reason)
    return response_object(
        rid,
        resp.model,
        resp.created or int(time.time()),
        output_items(choice.message, rid),
        status=status,
        usage=resp.usage,
        incomplete=incomplete,
    )


def finish_of(response: dict[str, Any], has_calls: bool) -> FinishReason:
    """The canonical finish reason of an upstream ``response`` object."""
    status = response.get("status")
    reason = (response.get("incomplete_details") or {}).get("reason")
    if status == "incomplete":
        return "content_filter" if reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    return "tool_calls" if has_calls else "stop"


def _decode_output(items: list[Any]) -> Message:
    msg = Message("assistant")
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            for p in item.get("content") or ():
                if p.get("type") == "output_text":
                    msg.content.append(TextPart(str(p.get("text", ""))))
                elif p.get("type") == "refusal":
                    msg.content.append(TextPart(str(p.get("refusal", ""))))
        elif kind == "function_call":
            msg.tool_calls.append(
                ToolCall(
                    str(item.get("call_id", "")),
                    str(item.get("name", "")),
                    str(item.get("arguments", "")),
                )
            )
        elif kind == "reasoning":
            summary = "".join(s.get("text", "") for s in item.get("summary") or ())
            if summary:
                msg.content.insert(0, ThinkingPart(summary))
    return msg


def decode_response(body: Any) -> ChatResponse:
    """Canonical response from an upstream Responses body; raises on a broken body."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), list):
        raise UpstreamProtocolError("The upstream returned a response without 'output'.")
    try:
        msg = _decode_output(body["output"])
    except (AttributeError, TypeError) as exc:
        raise UpstreamProtocolError("The upstream returned malformed output items.") from exc
    return ChatResponse(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        choices=[Choice(0, msg, finish_of(body, bool(msg.tool_calls)))],
        usage=decode_usage(body.get("usage")),
        created=int(body.get("created_at") or 0),
        raw=body,
    )
