"""OpenAI chat completions: the client shape and the upstream family (pure, no IO).

Parsing validates as it builds the canonical request, so a wrong type becomes a 400 that names
the parameter. For an OpenAI-family upstream the client's body is forwarded with only ``model``
and ``stream_options`` changed, so parameters Plano does not model still reach the provider.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from plano.core.model import (
    ChatRequest,
    ChatResponse,
    Choice,
    FinishReason,
    ImagePart,
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
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from plano.core.sse import encode_event
from plano.errors import InvalidRequest, PlanoError, UpstreamProtocolError
from plano.wire.common import bad, opt

__all__ = [
    "ChunkRenderer",
    "StreamDecoder",
    "decode_response",
    "decode_usage",
    "encode_request",
    "error_body",
    "parse_request",
    "render_response",
]

SHAPE = "openai_chat"
_ROLES = frozenset(("system", "developer", "user", "assistant", "tool"))
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
#: Keys the canonical request models; everything else goes to ``extra``.
_MODELED = frozenset(
    "model messages stream max_tokens max_completion_tokens temperature top_p stop tools "
    "tool_choice parallel_tool_calls response_format stream_options user metadata".split()
)


# ---------------------------------------------------------------- client request


def _parse_parts(content: list[Any], where: str, opaque: list[str]) -> list[Part]:
    parts: list[Part] = []
    for j, p in enumerate(content):
        if not isinstance(p, dict):
            raise bad(f"Invalid type for '{where}[{j}]': expected object.", f"{where}[{j}]")
        kind = p.get("type")
        if kind == "text":
            text = p.get("text")
            if not isinstance(text, str):
                raise bad(f"'{where}[{j}].text' must be a string.", f"{where}[{j}].text")
            parts.append(TextPart(text, p.get("cache_control")))
        elif kind == "image_url":
            img = p.get("image_url")
            url = img.get("url") if isinstance(img, dict) else img
            if not isinstance(url, str):
                raise bad(f"'{where}[{j}].image_url.url' must be a string.", f"{where}[{j}]")
            detail = img.get("detail") if isinstance(img, dict) else None
            parts.append(ImagePart(url, detail))
        else:
            # Other part types (input_audio, file, refusal) reach OpenAI-family upstreams
            # through the raw body; other families reject requests that carry them.
            opaque.append(f"'{kind}' content part")
    return parts


def _parse_tool_calls(calls: Any, where: str) -> list[ToolCall]:
    if not isinstance(calls, list):
        raise bad(f"'{where}' must be an array.", where)
    out = []
    for j, c in enumerate(calls):
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad(f"'{where}[{j}].function.name' must be a string.", f"{where}[{j}]")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            args = orjson.dumps(args).decode()
        out.append(ToolCall(str(c.get("id", "")), fn["name"], args))
    return out


def _parse_message(m: Any, i: int, opaque: list[str]) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise bad(f"Invalid type for '{where}': expected an object.", where)
    role = m.get("role")
    if role not in _ROLES:
        raise InvalidRequest(
            f"Invalid value for '{where}.role': expected one of "
            "system, developer, user, assistant, tool.",
            param=f"{where}.role",
            code="invalid_value",
        )
    content = m.get("content")
    if isinstance(content, str):
        parts: list[Part] = [TextPart(content)]
    elif isinstance(content, list):
        parts = _parse_parts(content, f"{where}.content", opaque)
    elif content is None:
        parts = []
    else:
        raise bad(
            f"Invalid type for '{where}.content': expected a string or an array of parts.",
            f"{where}.content",
        )
    reasoning = m.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.insert(0, ThinkingPart(reasoning))
    calls = _parse_tool_calls(m["tool_calls"], f"{where}.tool_calls") if m.get("tool_calls") else []
    name = m.get("name")
    return Message(
        role, parts, calls, m.get("tool_call_id"), name if isinstance(name, str) else None
    )


def _parse_tools(tools: list[Any]) -> list[Tool]:
    out = []
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad(f"'tools[{i}].function.name' must be a string.", f"tools[{i}]")
        params = fn.get("parameters") or {}
        if not isinstance(params, dict):
            raise bad(f"'tools[{i}].function.parameters' must be an object.", f"tools[{i}]")
        out.append(Tool(fn["name"], fn.get("description"), params))
    return out


def parse_request(body: Any) -> ChatRequest:
    """Validate an OpenAI chat completions body and build the canonical request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    model = opt(body, "model", str, "a string") or ""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' is required and must be a non-empty array.", param="messages"
        )
    stream = bool(opt(body, "stream", bool, "a boolean"))
    max_tokens = None
    for key in ("max_tokens", "max_completion_tokens"):  # both checked; the newer name wins
        value = opt(body, key, int, "an integer")
        if value is not None and value < 1:
            raise InvalidRequest(f"'{key}' must be at least 1.", param=key)
        if value is not None:
            max_tokens = value
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is not None and not (
        isinstance(stop, list) and all(isinstance(s, str) for s in stop)
    ):
        raise bad("Invalid type for 'stop': expected a string or an array of strings.", "stop")
    tools = opt(body, "tools", list, "an array")
    opts = opt(body, "stream_options", dict, "an object") or {}
    metadata = opt(body, "metadata", dict, "an object") or {}
    opaque: list[str] = []
    return ChatRequest(
        model=model,
        messages=[_parse_message(m, i, opaque) for i, m in enumerate(messages)],
        stream=stream,
        max_tokens=max_tokens,
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        stop=stop or [],
        tools=_parse_tools(tools) if tools else [],
        tool_choice=opt(body, "tool_choice", (str, dict), "a string or an object"),
        parallel_tool_calls=opt(body, "parallel_tool_calls", bool, "a boolean"),
        response_format=opt(body, "response_format", dict, "an object"),
        include_usage=bool(opts.get("include_usage")),
        user=opt(body, "user", str, "a string"),
        metadata={str(k): str(v) for k, v in metadata.items()},
        extra={k: v for k, v in body.items() if k not in _MODELED},
        shape=SHAPE,
        raw=body,
        opaque=opaque,
    )


# ---------------------------------------------------------------- upstream request


def _render_parts(parts: Sequence[Part]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], TextPart) and parts[0].cache_control is None:
        return parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            img: dict[str, Any] = {"url": p.url}
            if p.detail:
                img["detail"] = p.detail
            out.append({"type": "image_url", "image_url": img})
    return out


def _render_message(m: Message) -> dict[str, Any]:
    visible = [p for p in m.content if not isinstance(p, ThinkingPart)]
    d: dict[str, Any] = {"role": m.role, "content": _render_parts(visible)}
    if m.tool_calls:
        d["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.name:
        d["name"] = m.name
    return d


def encode_request(req: ChatRequest, model_id: str, *, ask_usage: bool) -> dict[str, Any]:
    """The body for an OpenAI-family upstream. ``ask_usage`` adds ``include_usage`` to a
    stream so the provider reports tokens instead of Plano estimating them."""
    if req.raw is not None and req.shape == SHAPE:
        body = dict(req.raw)
        body["model"] = model_id
    else:
        body = _encode_canonical(req, model_id)
    if req.stream and ask_usage:
        opts = dict(body.get("stream_options") or {})
        opts["include_usage"] = True
        body["stream_options"] = opts
    return body


def _encode_canonical(req: ChatRequest, model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(req.extra)
    body["model"] = model_id
    body["messages"] = [_render_message(m) for m in req.messages]
    if req.stream:
        body["stream"] = True
    for key, val in (
        ("max_tokens", req.max_tokens),
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("tool_choice", _tool_choice(req.tool_choice)),
        ("parallel_tool_calls", req.parallel_tool_calls),
        ("response_format", req.response_format),
        ("user", req.user),
    ):
        if val is not None:
            body[key] = val
    if req.stop:
        body["stop"] = req.stop
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": t.parameters or {"type": "object", "properties": {}},
                },
            }
            for t in req.tools
        ]
    return body


def _tool_choice(choice: object) -> object:
    if isinstance(choice, dict) and "name" in choice and "function" not in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


# ---------------------------------------------------------------- upstream response


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
                _FINISH.get(c.get("finish_reason") or "", "stop"),
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
                "message": _render_message(c.message),
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


# ---------------------------------------------------------------- streams


class StreamDecoder:
    """OpenAI chat SSE ``data`` payloads to canonical events. ``done`` turns true on
    ``[DONE]``; a stream that ends without it was cut."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.done = False
        self.started = False

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
            events.append(StreamEnd(_FINISH.get(finish, "stop"), idx))


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
