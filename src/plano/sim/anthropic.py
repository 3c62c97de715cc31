"""Anthropic Messages: request parsing and response rendering (pure).

Follows https://docs.anthropic.com/en/api/messages and the streaming guide: the event sequence
``message_start``, per block ``content_block_start`` / ``content_block_delta`` /
``content_block_stop`` (with one ``ping`` after the first start), ``message_delta``,
``message_stop``; ``thinking`` blocks with ``thinking_delta`` and ``signature_delta`` when the
request enables thinking. ``input_tokens`` excludes cache reads and writes, as the API reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from plano.sim.content import (
    Answer,
    BadRequest,
    ErrorKind,
    Meta,
    Prompt,
    ToolMode,
    ToolSpec,
    Usage,
    count_prompt,
    signature_for,
    split_text,
    text_of,
)
from plano.sim.openai_chat import optional_int

__all__ = ["AnthropicMessages", "anthropic_error", "render_models"]

_STOP: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_ERRORS: Final[dict[ErrorKind, str]] = {
    "bad_request": "invalid_request_error",
    "context_length": "invalid_request_error",
    "auth": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "server": "api_error",
    "unavailable": "overloaded_error",
}
_PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'


def anthropic_error(kind: ErrorKind, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": _ERRORS[kind], "message": message}})


def render_models(models: tuple[str, ...], created: int) -> bytes:
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = [{"type": "model", "id": m, "display_name": m, "created_at": stamp} for m in models]
    first, last = (models[0], models[-1]) if models else (None, None)
    return orjson.dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.prompt_tokens - u.cached_tokens - u.cache_write_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.completion_tokens,
        "service_tier": "standard",
    }


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    raw = body.get("tools")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("tools: Input should be a valid list")
    specs = []
    for tool in raw:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise BadRequest("tools: each tool needs a name")
        specs.append(ToolSpec(tool["name"], tool.get("input_schema")))
    return tuple(specs)


def _tool_choice(choice: Any) -> tuple[ToolMode, str | None, bool]:
    """(mode, forced tool, parallel allowed)."""
    if not isinstance(choice, dict):
        return "auto", None, True
    parallel = choice.get("disable_parallel_tool_use") is not True
    kind = choice.get("type")
    if kind == "none":
        return "none", None, parallel
    if kind == "any":
        return "required", None, parallel
    if kind == "tool" and isinstance(choice.get("name"), str):
        return "required", choice["name"], parallel
    return "auto", None, parallel


def _tool_result(content: Any) -> str | None:
    if not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return None
    return " ".join(text_of(b.get("content")) for b in results)


def _messages(body: Mapping[str, Any]) -> tuple[list[str], str, str | None]:
    """(texts for counting, last user text, trailing tool result)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required")
    texts = [text_of(body.get("system"))] if body.get("system") else []
    user_text = ""
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise BadRequest("messages: each message needs a role of 'user' or 'assistant'")
        text = text_of(msg.get("content"))
        texts.append(text)
        if msg["role"] == "user" and text:
            user_text = text
    last = messages[-1]
    result = _tool_result(last.get("content")) if last["role"] == "user" else None
    if result is not None:
        texts.append(result)
    return texts, user_text, result


class AnthropicMessages:
    """``POST /v1/messages``."""

    provider = "anthropic"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], require_auth: bool
    ) -> tuple[ErrorKind, str] | None:
        has_key = bool(headers.get("x-api-key")) or headers.get("authorization", "").startswith(
            "Bearer "
        )
        if require_auth and not has_key:
            return "auth", "x-api-key header is required"
        if not headers.get("anthropic-version"):
            return "bad_request", "anthropic-version: header is required"
        return None

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return anthropic_error(kind, message)

    def parse(self, body: Any, model_hint: str, query: Mapping[str, str]) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required")
        max_tokens = optional_int(body, "max_tokens")
        if max_tokens is None:
            raise BadRequest("max_tokens: Field required")
        texts, user_text, result = _messages(body)
        tools = _tools(body)
        mode, forced, parallel = _tool_choice(body.get("tool_choice"))
        thinking = body.get("thinking")
        return Prompt(
            model=model,
            user_text=user_text,
            tool_result=result,
            tools=tools,
            tool_mode=mode,
            forced_tool=forced,
            parallel_tools=parallel,
            max_tokens=max_tokens,
            prompt_tokens=count_prompt(texts, tools),
            stream=body.get("stream") is True,
            thinking=isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"),
        )

    def _blocks(self, answer: Answer) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if answer.thinking:
            text = answer.thinking_text
            blocks.append({"type": "thinking", "thinking": text, "signature": signature_for(text)})
        if not answer.tool_calls:
            blocks.append({"type": "text", "text": answer.text})
        blocks += [
            {"type": "tool_use", "id": "toolu_" + c.key, "name": c.name, "input": c.args}
            for c in answer.tool_calls
        ]
        return blocks

    def _message(self, answer: Answer, meta: Meta) -> dict[str, Any]:
        return {
            "id": meta.ident("msg_"),
            "type": "message",
            "role": "assistant",
            "model": meta.model,
            "content": self._blocks(answer),
            "stop_reason": _STOP[answer.finish],
            "stop_sequence": None,
            "usage": _usage(answer.usage),
        }

    def render(self, answer: Answer, meta: Meta, prompt: Prompt) -> bytes:
        return orjson.dumps(self._message(answer, meta))

    def stream(self, answer: Answer, meta: Meta, prompt: Prompt) -> list[bytes]:
        start = self._message(answer, meta)
        start.update(content=[], stop_reason=None)
        start["usage"] = {**start["usage"], "output_tokens": 1}
        events = [_event("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(self._blocks(answer)):
            events += _block_events(index, block, answer)
            if index == 0:
                events.insert(2, _PING)
        delta = {"stop_reason": _STOP[answer.finish], "stop_sequence": None}
        usage = {"output_tokens": answer.usage.completion_tokens}
        events.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        events.append(_event("message_stop", {"type": "message_stop"}))
        return events


def _block_events(index: int, block: dict[str, Any], answer: Answer) -> list[bytes]:
    kind = block["type"]
    if kind == "thinking":
        empty: dict[str, Any] = {"type": "thinking", "thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in answer.thinking]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        empty = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in answer.pieces]
    else:
        empty = {**block, "input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split_text(arguments)]
    start = {"type": "content_block_start", "index": index, "content_block": empty}
    events = [_event("content_block_start", start)]
    events += [
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
