"""OpenAI chat completions answers, both ways (pure): an OpenAI-family upstream's body decoded
to the canonical response, a canonical response rendered for a chat client, usage and errors.
"""

from __future__ import annotations

import time
from typing import Any, Final

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
from plano.wire.openai_chat import render_message

__all__ = [
    "FINISH_REASONS",
    "decode_response",
    "decode_usage",
    "error_body",
    "render_response",
    "render_usage",
]

#: OpenAI ``finish_reason`` -> canonical finish reason (anything else is ``stop``).
FINISH_REASONS: Final[dict[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def decode_usage(u: Any) -> Usage | None:
    """OpenAI usage (and DeepSeek's cache fields) to canonical usage."""
    if not isinstance(u, dict):
        return None
    pd = u.get("prompt_tokens_details")
    cd = u.get("completion_tokens_details")
    pd = pd if isinstance(pd, dict) else {}
    cd = cd if isinstance(cd, dict) else {}
    try:
        return Usage(
            input_tokens=int(u.get("prompt_tokens") or 0),
            output_tokens=int(u.get("completion_tokens") or 0),
            cache_read_tokens=int(pd.get("cached_tokens") or u.get("prompt_cache_hit_tokens") or 0),
            reasoning_tokens=int(cd.get("reasoning_tokens") or 0),
        )
    except (TypeError, ValueError) as exc:
        raise UpstreamProtocolError("The upstream reported malformed usage.") from exc


def _decode_message(m: dict[str, Any]) -> Message:
    parts: list[Part] = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    content = m.get("content")
    if isinstance(content, str):
        parts.append(TextPart(content))
    calls = []
    for c in m.get("tool_calls") or []:
        fn = c.get("function") or {}
        calls.append(ToolCall(str(c.get("id", "")), fn.get("name", ""), fn.get("arguments", "")))
    return Message("assistant", parts, calls)


def decode_response(body: Any) -> ChatResponse:
    """Canonical response from an OpenAI-family upstream body; raises on a broken body."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise UpstreamProtocolError("The upstream returned a body without 'choices'.")
    try:
        choices = [
            Choice(
                int(c.get("index", i)),
                _decode_message(c.get("message") or {}),
                FINISH_REASONS.get(c.get("finish_reason") or "", "stop"),
            )
            for i, c in enumerate(body["choices"])
        ]
        created = int(body.get("created") or 0)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UpstreamProtocolError("The upstream returned a malformed answer.") from exc
    return ChatResponse(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        choices=choices,
        usage=decode_usage(body.get("usage")),
        created=created,
        raw=body,
    )


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """A canonical response in the OpenAI chat shape."""
    out: dict[str, Any] = {
        "id": resp.id or "chatcmpl-plano",
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": resp.model,
        "choices": [
            {
                "index": c.index,
                "message": render_message(c.message),
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
            for c in resp.choices
        ],
    }
    if resp.usage is not None:
        out["usage"] = render_usage(resp.usage)
    return out


def render_usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def error_body(err: PlanoError) -> dict[str, Any]:
    """The OpenAI error shape."""
    return {
        "error": {
            "message": err.message,
            "type": getattr(err, "upstream_type", None) or err.error_type,
            "param": err.param,
            "code": err.code,
        }
    }
