"""Anthropic Messages answers, both ways (pure): upstream message -> canonical response,
canonical response -> client message, usage and errors.

Usage conventions differ: Anthropic's ``input_tokens`` EXCLUDES cache reads and cache writes,
the canonical ``Usage.input_tokens`` includes them. Decoding adds them, rendering subtracts
them, so cost (which prices the three separately) stays right in every direction.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano.core.model import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)
from plano.errors import PlanoError, UpstreamProtocolError

__all__ = [
    "ERROR_TYPES",
    "STOP_OF_FINISH",
    "STOP_REASONS",
    "decode_response",
    "decode_usage",
    "error_body",
    "error_type",
    "finish_of",
    "message_id",
    "parse_error",
    "render_response",
    "render_usage",
    "tool_input",
]

#: Anthropic ``stop_reason`` -> canonical finish reason.
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
#: Canonical finish reason -> Anthropic ``stop_reason``.
STOP_OF_FINISH: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
}
#: Anthropic error types, by the HTTP status they come with.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_KNOWN_TYPES = frozenset(ERROR_TYPES.values())


def finish_of(stop_reason: Any) -> FinishReason:
    return STOP_REASONS.get(str(stop_reason), "stop")


def decode_usage(u: Any) -> Usage | None:
    """Anthropic usage to canonical usage (cache reads and writes folded into input)."""
    if not isinstance(u, dict):
        return None
    read = int(u.get("cache_read_input_tokens") or 0)
    write = int(u.get("cache_creation_input_tokens") or 0)
    # ``cache_creation`` splits the writes by lifetime; one-hour writes cost more.
    split = u.get("cache_creation")
    hour = int(split.get("ephemeral_1h_input_tokens") or 0) if isinstance(split, dict) else 0
    details = u.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(u.get("input_tokens") or 0) + read + write,
        output_tokens=int(u.get("output_tokens") or 0),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
        cache_write_1h_tokens=min(hour, write) if write else hour,
    )


def render_usage(u: Usage) -> dict[str, Any]:
    """Canonical usage as Anthropic reports it (input excluding cache reads and writes)."""
    out: dict[str, Any] = {
        "input_tokens": max(u.input_tokens - u.cache_read_tokens - u.cache_write_tokens, 0),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.cache_write_1h_tokens:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": max(u.cache_write_tokens - u.cache_write_1h_tokens, 0),
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens,
        }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def _decode_content(blocks: list[Any]) -> Message:
    msg = Message("assistant")
    for b in blocks:
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            msg.content.append(TextPart(str(b.get("text", ""))))
        elif kind == "thinking":
            msg.content.append(ThinkingPart(str(b.get("thinking", "")), b.get("signature")))
        elif kind == "redacted_thinking":
            msg.content.append(ThinkingPart("", redacted=str(b.get("data", ""))))
        elif kind == "tool_use":
            args = orjson.dumps(b.get("input") or {}).decode()
            msg.tool_calls.append(ToolCall(str(b.get("id", "")), str(b.get("name", "")), args))
        # Server-tool blocks only occur for requests with server tools, which never leave
        # the Anthropic family (they are opaque to the canonical model).
    return msg


def decode_response(body: Any) -> ChatResponse:
    """Canonical response from an Anthropic message body; raises on a broken body."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise UpstreamProtocolError("The upstream returned a message without 'content'.")
    msg = _decode_content(body["content"])
    return ChatResponse(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        choices=[Choice(0, msg, finish_of(body.get("stop_reason")))],
        usage=decode_usage(body.get("usage")),
        raw=body,
    )


def message_id(answer_id: str) -> str:
    """An Anthropic-looking message id for an answer from another family."""
    return answer_id if answer_id.startswith("msg_") else "msg_" + (answer_id or "plano")


def tool_input(arguments: str) -> dict[str, Any]:
    """A model's tool arguments as the object Anthropic clients expect; a model that produced
    something else is a protocol error, not an empty input."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError("The model returned tool arguments that are not a JSON object.")
    return value


def _render_part(p: Part) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text} if p.text else None
    if isinstance(p, ThinkingPart):
        if p.redacted is not None:
            return {"type": "redacted_thinking", "data": p.redacted}
        return {"type": "thinking", "thinking": p.text, "signature": p.signature or ""}
    return None


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """A canonical response as an Anthropic message."""
    choice = resp.choices[0] if resp.choices else Choice(0, Message("assistant"), "stop")
    msg = choice.message
    content = [b for b in map(_render_part, msg.content) if b is not None]
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(c.arguments)}
        for c in msg.tool_calls
    ]
    finish = "tool_calls" if msg.tool_calls else (choice.finish_reason or "stop")
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": STOP_OF_FINISH[finish],
        "stop_sequence": None,
        "usage": render_usage(resp.usage or Usage()),
    }


def error_type(err: PlanoError) -> str:
    """The Anthropic error type for a Plano error (the upstream's own, when it was one)."""
    upstream = getattr(err, "upstream_type", None)
    if upstream in _KNOWN_TYPES:
        return str(upstream)
    if err.status in ERROR_TYPES:
        return ERROR_TYPES[err.status]
    return "invalid_request_error" if err.status < 500 else "api_error"


def error_body(err: PlanoError) -> dict[str, Any]:
    """The Anthropic error shape: ``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": error_type(err), "message": err.message}}


def parse_error(body: bytes) -> tuple[str | None, str | None]:
    """(message, type) of an Anthropic error body, if it is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None
    etype = err.get("type")
    return str(err.get("message") or "") or None, etype if isinstance(etype, str) else None
