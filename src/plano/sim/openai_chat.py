"""OpenAI chat completions (also Azure OpenAI): request parsing and response rendering (pure).

Follows https://platform.openai.com/docs/api-reference/chat: ``chat.completion`` objects,
``chat.completion.chunk`` streams ending in ``data: [DONE]``, and a usage chunk with empty
``choices`` only when the request set ``stream_options.include_usage``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    split_text,
    text_of,
)

__all__ = [
    "OpenAIChat",
    "openai_authenticate",
    "openai_error",
    "openai_usage",
    "optional_int",
    "render_models",
]

FINGERPRINT: Final = "fp_plano_sim"
DONE: Final = b"data: [DONE]\n\n"
_FINISH: Final = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

#: kind -> (error.type, error.code, error.param)
_ERRORS: Final[dict[ErrorKind, tuple[str, str | None, str | None]]] = {
    "bad_request": ("invalid_request_error", None, None),
    "context_length": ("invalid_request_error", "context_length_exceeded", "messages"),
    "auth": ("invalid_request_error", "invalid_api_key", None),
    "permission": ("invalid_request_error", "permission_denied", None),
    "not_found": ("invalid_request_error", "unknown_url", None),
    "rate_limit": ("requests", "rate_limit_exceeded", None),
    "server": ("server_error", None, None),
    "unavailable": ("server_error", None, None),
}


def openai_error(kind: ErrorKind, message: str) -> bytes:
    """``{"error": {message, type, param, code}}``, shared by chat completions and Responses."""
    etype, code, param = _ERRORS[kind]
    return orjson.dumps(
        {"error": {"message": message, "type": etype, "param": param, "code": code}}
    )


def openai_authenticate(
    headers: Mapping[str, str], require_auth: bool
) -> tuple[ErrorKind, str] | None:
    if not require_auth or headers.get("authorization", "").startswith("Bearer "):
        return None
    if headers.get("api-key"):  # Azure's header
        return None
    return "auth", "You didn't provide an API key. Use 'Authorization: Bearer YOUR_KEY'."


def optional_int(body: Mapping[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` present in ``body``, checked to be an integer."""
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"Invalid type for '{key}': expected an integer.", key)
        return value
    return None


def openai_usage(u: Usage) -> dict[str, Any]:
    completion = u.completion_tokens
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": u.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def render_models(models: tuple[str, ...], owner: str, created: int) -> bytes:
    data = [{"id": m, "object": "model", "created": created, "owned_by": owner} for m in models]
    return orjson.dumps({"object": "list", "data": data})


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    raw = body.get("tools")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", "tools")
    specs = []
    for tool in raw:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest("Missing required parameter: 'tools[].function.name'.", "tools")
        specs.append(ToolSpec(fn["name"], fn.get("parameters")))
    return tuple(specs)


def _tool_choice(choice: Any) -> tuple[ToolMode, str | None]:
    if choice in ("none", "required"):
        return choice, None
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return "required", fn["name"]
    return "auto", None


class OpenAIChat:
    """``POST /v1/chat/completions`` and Azure's deployment route."""

    def __init__(self, provider: str = "openai") -> None:
        self.provider = provider

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], require_auth: bool
    ) -> tuple[ErrorKind, str] | None:
        return openai_authenticate(headers, require_auth)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return openai_error(kind, message)

    def parse(self, body: Any, model_hint: str, query: Mapping[str, str]) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array.", "messages")
        model = body.get("model") or model_hint
        if not isinstance(model, str) or not model:
            raise BadRequest("You must provide a model parameter.", "model")
        texts: list[str] = []
        user_text = ""
        for msg in messages:
            if not isinstance(msg, dict) or "role" not in msg:
                raise BadRequest("Each message must be an object with a 'role'.", "messages")
            text = text_of(msg.get("content"))
            texts.append(text)
            if msg["role"] == "user":
                user_text = text
        last = messages[-1]
        tools = _tools(body)
        mode, forced = _tool_choice(body.get("tool_choice"))
        stream_options = body.get("stream_options")
        return Prompt(
            model=model,
            user_text=user_text,
            tool_result=texts[-1] if last.get("role") == "tool" else None,
            tools=tools,
            tool_mode=mode,
            forced_tool=forced,
            parallel_tools=body.get("parallel_tool_calls", True) is not False,
            max_tokens=optional_int(body, "max_completion_tokens", "max_tokens"),
            prompt_tokens=count_prompt(texts, tools),
            stream=body.get("stream") is True,
            include_usage=isinstance(stream_options, dict)
            and stream_options.get("include_usage") is True,
        )

    def render(self, answer: Answer, meta: Meta, prompt: Prompt) -> bytes:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.text if not answer.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if answer.tool_calls:
            message["tool_calls"] = [
                {
                    "id": "call_" + c.key,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in answer.tool_calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": _FINISH[answer.finish],
        }
        return orjson.dumps(
            {
                "id": meta.ident("chatcmpl-"),
                "object": "chat.completion",
                "created": meta.created,
                "model": meta.model,
                "choices": [choice],
                "usage": openai_usage(answer.usage),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            }
        )

    def stream(self, answer: Answer, meta: Meta, prompt: Prompt) -> list[bytes]:
        head: dict[str, Any] = {
            "id": meta.ident("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": meta.created,
            "model": meta.model,
            "system_fingerprint": FINGERPRINT,
        }
        with_usage = prompt.include_usage

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            obj = {**head, "choices": [choice]}
            if with_usage:
                obj["usage"] = None
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        first = {"role": "assistant", "content": None if answer.tool_calls else "", "refusal": None}
        events = [chunk(first)]
        events += [chunk({"content": piece}) for piece in answer.pieces]
        for index, call in enumerate(answer.tool_calls):
            fn = {"name": call.name, "arguments": ""}
            start = {"index": index, "id": "call_" + call.key, "type": "function", "function": fn}
            events.append(chunk({"tool_calls": [start]}))
            for part in split_text(call.arguments):
                delta = {"index": index, "function": {"arguments": part}}
                events.append(chunk({"tool_calls": [delta]}))
        events.append(chunk({}, _FINISH[answer.finish]))
        if with_usage:
            usage = {**head, "choices": [], "usage": openai_usage(answer.usage)}
            events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        events.append(DONE)
        return events
