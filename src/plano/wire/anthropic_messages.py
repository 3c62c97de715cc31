"""Anthropic Messages requests, both ways (pure, no IO): the client shape's request parser and
the body Plano sends to an Anthropic upstream.

For an Anthropic upstream the client's own Anthropic body is forwarded with only ``model``
changed, so thinking signatures, ``cache_control`` and blocks Plano does not model arrive
untouched. Content the canonical model cannot carry is recorded in ``ChatRequest.opaque`` so
that other families refuse it with a 400 instead of dropping it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from plano.core.model import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from plano.errors import InvalidRequest
from plano.wire.common import (
    arguments_object,
    bad,
    data_url,
    forced_tool,
    opt,
    opt_list,
    tool_mode,
)

__all__ = ["DEFAULT_MAX_TOKENS", "SHAPE", "encode_request", "parse_request", "tool_id"]

SHAPE = "anthropic_messages"
#: Anthropic requires ``max_tokens``; used when the client (another shape) did not set it.
DEFAULT_MAX_TOKENS = 4096
_BAD_ID = re.compile(r"[^a-zA-Z0-9_-]")


# ---------------------------------------------------------------- client request


def _image(block: dict[str, Any], where: str, opaque: list[str]) -> ImagePart | None:
    src = block.get("source")
    if not isinstance(src, dict):
        raise bad(f"'{where}.source' must be an object.", f"{where}.source")
    cc = block.get("cache_control")
    if src.get("type") == "base64":
        media, data = src.get("media_type"), src.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise bad(f"'{where}.source' needs string media_type and data.", f"{where}.source")
        return ImagePart(f"data:{media};base64,{data}", cache_control=cc)
    if src.get("type") == "url" and isinstance(src.get("url"), str):
        return ImagePart(src["url"], cache_control=cc)
    opaque.append(f"image source '{src.get('type')}'")
    return None


def _content_parts(content: Any, where: str, opaque: list[str]) -> list[Part]:
    """Text and image blocks (user content, tool results, system)."""
    if isinstance(content, str):
        return [TextPart(content)]
    if content is None:
        return []
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or an array of content blocks.", where)
    parts: list[Part] = []
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(b, dict):
            raise bad(f"'{at}' must be an object.", at)
        kind = b.get("type")
        if kind == "text":
            if not isinstance(b.get("text"), str):
                raise bad(f"'{at}.text' must be a string.", f"{at}.text")
            parts.append(TextPart(b["text"], b.get("cache_control")))
        elif kind == "image":
            img = _image(b, at, opaque)
            if img is not None:
                parts.append(img)
        else:
            opaque.append(f"'{kind}' content block")
    return parts


def _tool_result(b: dict[str, Any], at: str, opaque: list[str]) -> Message:
    call_id = b.get("tool_use_id")
    if not isinstance(call_id, str):
        raise bad(f"'{at}.tool_use_id' must be a string.", f"{at}.tool_use_id")
    parts = _content_parts(b.get("content"), f"{at}.content", opaque)
    cc = b.get("cache_control")
    if cc is not None and parts and isinstance(parts[-1], TextPart):
        parts[-1].cache_control = cc
    return Message("tool", parts, tool_call_id=call_id, is_error=b.get("is_error") is True)


def _user_message(content: Any, where: str, opaque: list[str]) -> list[Message]:
    """One Anthropic user turn: tool results become ``tool`` messages, in order."""
    if not isinstance(content, list):
        return [Message("user", _content_parts(content, where, opaque))]
    out: list[Message] = []
    pending: list[Any] = []
    for j, b in enumerate(content):
        if isinstance(b, dict) and b.get("type") == "tool_result":
            if pending:
                out.append(Message("user", _content_parts(pending, where, opaque)))
                pending = []
            out.append(_tool_result(b, f"{where}[{j}]", opaque))
        else:
            pending.append(b)
    if pending or not out:
        out.append(Message("user", _content_parts(pending, where, opaque)))
    return out


def _assistant_message(content: Any, where: str, opaque: list[str]) -> Message:
    if not isinstance(content, list):
        return Message("assistant", _content_parts(content, where, opaque))
    msg = Message("assistant")
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "tool_use":
            if not isinstance(b.get("id"), str) or not isinstance(b.get("name"), str):
                raise bad(f"'{at}' needs string id and name.", at)
            args = orjson.dumps(b.get("input") or {}).decode()
            msg.tool_calls.append(ToolCall(b["id"], b["name"], args))
        elif kind == "thinking":
            msg.content.append(ThinkingPart(str(b.get("thinking", "")), b.get("signature")))
        elif kind == "redacted_thinking":
            msg.content.append(ThinkingPart("", redacted=str(b.get("data", ""))))
        else:
            msg.content.extend(_content_parts([b], where, opaque))
    return msg


def _messages(raw: list[Any], opaque: list[str]) -> list[Message]:
    out: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise InvalidRequest(
                f"'{where}.role' must be 'user' or 'assistant'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = m.get("content")
        if m["role"] == "user":
            out.extend(_user_message(content, f"{where}.content", opaque))
        else:
            out.append(_assistant_message(content, f"{where}.content", opaque))
    return out


def _tools(raw: list[Any], opaque: list[str]) -> list[Tool]:
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise bad(f"'tools[{i}].name' must be a string.", f"tools[{i}]")
        if t.get("type") not in (None, "custom"):
            # Server tools (web search, bash, code execution) run at Anthropic only.
            opaque.append(f"server tool '{t.get('type')}'")
            continue
        schema = t.get("input_schema") or {}
        if not isinstance(schema, dict):
            raise bad(f"'tools[{i}].input_schema' must be an object.", f"tools[{i}]")
        tools.append(Tool(t["name"], t.get("description"), schema, t.get("cache_control")))
    return tools


def _tool_choice(tc: Any) -> tuple[ToolChoice | None, bool | None]:
    """(canonical tool choice, parallel tool calls)."""
    if tc is None:
        return None, None
    if not isinstance(tc, dict):
        raise bad("Invalid type for 'tool_choice': expected an object.", "tool_choice")
    parallel = False if tc.get("disable_parallel_tool_use") is True else None
    kind = tc.get("type")
    if kind == "tool" and isinstance(tc.get("name"), str):
        return {"name": tc["name"]}, parallel
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if mapped is None:
        raise InvalidRequest(
            "'tool_choice.type' must be auto, any, tool or none.",
            param="tool_choice",
            code="invalid_value",
        )
    return mapped, parallel


def parse_request(body: Any) -> ChatRequest:
    """Validate an Anthropic Messages body (``/v1/messages``) and build the canonical request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' is required and must be a non-empty array.", param="messages"
        )
    max_tokens = opt(body, "max_tokens", int, "an integer")
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("'max_tokens' must be at least 1.", param="max_tokens")
    opaque: list[str] = []
    system = body.get("system")
    head = [Message("system", _content_parts(system, "system", opaque))] if system else []
    stop = opt_list(body, "stop_sequences")
    if not all(isinstance(s, str) for s in stop):
        raise bad("'stop_sequences' must be an array of strings.", "stop_sequences")
    choice, parallel = _tool_choice(body.get("tool_choice"))
    meta = opt(body, "metadata", dict, "an object") or {}
    user = meta.get("user_id")
    return ChatRequest(
        model=opt(body, "model", str, "a string") or "",
        messages=head + _messages(messages, opaque),
        stream=bool(opt(body, "stream", bool, "a boolean")),
        max_tokens=max_tokens,
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        stop=stop,
        tools=_tools(opt_list(body, "tools"), opaque),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        user=user if isinstance(user, str) else None,
        thinking=opt(body, "thinking", dict, "an object"),
        shape=SHAPE,
        raw=body,
        opaque=opaque,
    )


# ---------------------------------------------------------------- upstream request


def tool_id(call_id: str) -> str:
    """A tool-call id Anthropic accepts (``^[a-zA-Z0-9_-]+$``); applied to tool_use and
    tool_result alike, so the pairing survives."""
    return _BAD_ID.sub("_", call_id) or "call"


def _block(p: Part) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        if not p.text:
            return None  # Anthropic rejects empty text blocks
        out: dict[str, Any] = {"type": "text", "text": p.text}
    elif isinstance(p, ImagePart):
        parsed = data_url(p.url)
        if parsed is not None:
            src = {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
        else:
            src = {"type": "url", "url": p.url}
        out = {"type": "image", "source": src}
    elif p.redacted is not None:
        return {"type": "redacted_thinking", "data": p.redacted}
    elif p.signature:
        # Thinking without a signature (another family's reasoning) cannot be verified.
        return {"type": "thinking", "thinking": p.text, "signature": p.signature}
    else:
        return None
    if p.cache_control is not None:
        out["cache_control"] = p.cache_control
    return out


def _blocks(parts: Sequence[Part]) -> list[dict[str, Any]]:
    return [b for b in map(_block, parts) if b is not None]


def _turn(m: Message, i: int) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        res: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(m.tool_call_id or "")}
        content = _blocks(m.content)
        if content:
            res["content"] = content
        if m.is_error:
            res["is_error"] = True
        return "user", [res]
    if m.role == "user":
        return "user", _blocks([p for p in m.content if not isinstance(p, ThinkingPart)])
    thinking = _blocks([p for p in m.content if isinstance(p, ThinkingPart)])
    visible = _blocks([p for p in m.content if not isinstance(p, ThinkingPart)])
    calls = [
        {
            "type": "tool_use",
            "id": tool_id(c.id),
            "name": c.name,
            "input": arguments_object(c.arguments, f"messages[{i}].tool_calls[{j}].arguments"),
        }
        for j, c in enumerate(m.tool_calls)
    ]
    return "assistant", thinking + visible + calls


def _encode_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Canonical turns to Anthropic turns: tool results join the user turn after the calls,
    consecutive turns of one role merge (parallel tool results must share one user turn)."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if m.role in ("system", "developer"):
            continue
        role, blocks = _turn(m, i)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _system(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [
        b
        for m in messages
        if m.role in ("system", "developer")
        for b in _blocks([p for p in m.content if isinstance(p, TextPart)])
    ]


def _encode_tool_choice(req: ChatRequest) -> dict[str, Any] | None:
    mode = tool_mode(req.tool_choice)
    name = forced_tool(req.tool_choice)
    if name is not None:
        out: dict[str, Any] = {"type": "tool", "name": name}
    elif mode == "none":
        return {"type": "none"}
    elif mode == "required":
        out = {"type": "any"}
    elif mode == "auto" or req.parallel_tool_calls is False:
        out = {"type": "auto"}
    else:
        return None
    if req.parallel_tool_calls is False:
        out["disable_parallel_tool_use"] = True
    return out


def encode_request(req: ChatRequest, model_id: str) -> dict[str, Any]:
    """The body for an Anthropic upstream: the client's own body when it is Anthropic,
    else a translation of the canonical request."""
    if req.raw is not None and req.shape == SHAPE:
        return {**req.raw, "model": model_id}
    body: dict[str, Any] = {
        "model": model_id,
        "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": _encode_messages(req.messages),
    }
    system = _system(req.messages)
    if system:
        plain = len(system) == 1 and "cache_control" not in system[0]
        body["system"] = system[0]["text"] if plain else system
    for key, val in (("temperature", req.temperature), ("top_p", req.top_p)):
        if val is not None:
            body[key] = val
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.stream:
        body["stream"] = True
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
        choice = _encode_tool_choice(req)
        if choice is not None:
            body["tool_choice"] = choice
    if req.thinking is not None:
        body["thinking"] = req.thinking
    if req.user:
        body["metadata"] = {"user_id": req.user}
    return body


def _tool(t: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.name,
        "input_schema": t.parameters or {"type": "object", "properties": {}},
    }
    if t.description:
        out["description"] = t.description
    if t.cache_control is not None:
        out["cache_control"] = t.cache_control
    return out
