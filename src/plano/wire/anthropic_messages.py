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
    INTEGER,
    OBJECT,
    STRING,
    Rule,
    arguments_object,
    bad,
    check,
    data_url,
    forced_tool,
    invalid,
    json_text,
    kind_of,
    need,
    opt,
    opt_int,
    opt_list,
    opt_strings,
    tool_mode,
    typename,
)

__all__ = ["DEFAULT_MAX_TOKENS", "SHAPE", "encode_request", "parse_request", "tool_id"]

SHAPE = "anthropic_messages"
#: Anthropic requires ``max_tokens``; used when the client (another shape) did not set it.
DEFAULT_MAX_TOKENS = 4096
_BAD_ID = re.compile(r"[^a-zA-Z0-9_-]")
#: Content block types of a message, the betas' included (the client's ``anthropic-beta``
#: header is forwarded). Text, image, tool use and result and thinking have canonical parts;
#: the others reach an Anthropic upstream through the raw body, and other families refuse them.
_BLOCKS = frozenset(
    (
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
        "mcp_tool_listing",
        "advisor_tool_result",
        "compaction",
        "tool_addition",
        "tool_removal",
        "fallback",
    )
)
#: Block types a tool result's content may hold.
_RESULT_BLOCKS = frozenset(
    ("text", "image", "document", "search_result", "tool_reference", "browser_state")
)
_SYSTEM_BLOCKS = frozenset(("text",))
_IMAGE_SOURCES = frozenset(("base64", "url", "file"))
_THINKING = frozenset(("enabled", "disabled", "adaptive", "between_tools"))
_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "any": "required", "none": "none"}
_CHOICE_TYPES = frozenset((*_CHOICES, "tool"))
_OUTPUT_CONFIG: dict[str, Rule] = {
    "effort": frozenset(("low", "medium", "high", "xhigh", "max")),
    "format": OBJECT,
}
#: Parameters Plano passes on (in the raw body) without reading them: their types are checked.
_PASSED: dict[str, Rule] = {
    "cache_control": OBJECT,
    "container": ((str, dict), "a string or an object"),
    "diagnostics": OBJECT,
    "inference_geo": STRING,
    "output_config": OBJECT,
    "service_tier": STRING,
    "speed": STRING,
    "top_k": INTEGER,
    "user_profile_id": STRING,
    "workspace_id": STRING,
}


# ---------------------------------------------------------------- client request


def _image(block: dict[str, Any], at: str, opaque: list[str]) -> ImagePart | None:
    where = f"{at}.source"
    src = need(block, "source", OBJECT, at)
    kind = kind_of(src, where, _IMAGE_SOURCES, "image source")
    cc = opt(block, "cache_control", dict, "an object", at)
    if kind == "base64":
        media, data = need(src, "media_type", STRING, where), need(src, "data", STRING, where)
        return ImagePart(f"data:{media};base64,{data}", cache_control=cc)
    if kind == "url":
        return ImagePart(need(src, "url", STRING, where), cache_control=cc)
    need(src, "file_id", STRING, where)
    opaque.append("image source 'file'")
    return None


def _part(block: dict[str, Any], kind: str, at: str, opaque: list[str]) -> Part | None:
    """A text or image block as a canonical part; other kinds of block are opaque."""
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise bad(f"'{at}.text' must be a string.", f"{at}.text")
        opt(block, "citations", list, "an array", at)
        return TextPart(text, opt(block, "cache_control", dict, "an object", at))
    if kind == "image":
        return _image(block, at, opaque)
    opaque.append(f"'{kind}' content block")
    return None


def _content_parts(
    content: Any, where: str, opaque: list[str], kinds: frozenset[str] = _BLOCKS
) -> list[Part]:
    """Text and image blocks (user content, tool results, system)."""
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise bad(
            f"Invalid type for '{where}': expected a string or an array of content blocks, "
            f"got {typename(content)}.",
            where,
        )
    parts: list[Part] = []
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        part = _part(b, kind_of(b, at, kinds, "content block"), at, opaque)
        if part is not None:
            parts.append(part)
    return parts


def _tool_result(b: dict[str, Any], at: str, opaque: list[str]) -> Message:
    call_id = need(b, "tool_use_id", STRING, at)
    content = b.get("content")
    parts = (
        [] if content is None else _content_parts(content, f"{at}.content", opaque, _RESULT_BLOCKS)
    )
    cc = opt(b, "cache_control", dict, "an object", at)
    if cc is not None and parts and isinstance(parts[-1], TextPart):
        parts[-1].cache_control = cc
    is_error = opt(b, "is_error", bool, "a boolean", at) is True
    return Message("tool", parts, tool_call_id=call_id, is_error=is_error)


def _user_message(content: Any, where: str, opaque: list[str]) -> list[Message]:
    """One Anthropic user turn: tool results become ``tool`` messages, in order."""
    if not isinstance(content, list):
        return [Message("user", _content_parts(content, where, opaque))]
    out: list[Message] = []
    parts: list[Part] = []
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        kind = kind_of(b, at, _BLOCKS, "content block")
        if kind == "tool_result":
            if parts:
                out.append(Message("user", parts))
                parts = []
            out.append(_tool_result(b, at, opaque))
        elif (part := _part(b, kind, at, opaque)) is not None:
            parts.append(part)
    if parts or not out:
        out.append(Message("user", parts))
    return out


def _tool_use(b: dict[str, Any], at: str) -> ToolCall:
    call_id, name = need(b, "id", STRING, at), need(b, "name", STRING, at)
    args = opt(b, "input", dict, "an object", at) or {}
    return ToolCall(call_id, name, json_text(args, f"{at}.input"))


def _assistant_message(content: Any, where: str, opaque: list[str]) -> Message:
    if not isinstance(content, list):
        return Message("assistant", _content_parts(content, where, opaque))
    msg = Message("assistant")
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        kind = kind_of(b, at, _BLOCKS, "content block")
        if kind == "tool_use":
            msg.tool_calls.append(_tool_use(b, at))
        elif kind == "thinking":
            text = need(b, "thinking", STRING, at)
            msg.content.append(ThinkingPart(text, opt(b, "signature", str, "a string", at)))
        elif kind == "redacted_thinking":
            msg.content.append(ThinkingPart("", redacted=need(b, "data", STRING, at)))
        elif (part := _part(b, kind, at, opaque)) is not None:
            msg.content.append(part)
    return msg


def _messages(raw: list[Any], opaque: list[str]) -> list[Message]:
    out: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad(f"Invalid type for '{where}': expected an object, got {typename(m)}.", where)
        role = m.get("role")
        if not isinstance(role, str) or role not in ("user", "assistant"):
            raise invalid(f"'{where}.role' must be 'user' or 'assistant'.", f"{where}.role")
        content = need(m, "content", ((str, list), "a string or an array of content blocks"), where)
        if role == "user":
            out.extend(_user_message(content, f"{where}.content", opaque))
        else:
            out.append(_assistant_message(content, f"{where}.content", opaque))
    return out


def _tools(raw: list[Any], opaque: list[str]) -> list[Tool]:
    tools = []
    for i, t in enumerate(raw):
        at = f"tools[{i}]"
        if not isinstance(t, dict):
            raise bad(f"Invalid type for '{at}': expected an object, got {typename(t)}.", at)
        kind = opt(t, "type", str, "a string", at)
        if kind not in (None, "custom"):
            # Server tools (web search, bash, code execution, toolsets) run at Anthropic only.
            # Their types are dated versions, added often: any type string is let through.
            opt(t, "name", str, "a string", at)
            opaque.append(f"server tool '{kind[:64]}'")
            continue
        name = need(t, "name", STRING, at)
        schema = opt(t, "input_schema", dict, "an object", at) or {}
        description = opt(t, "description", str, "a string", at)
        tools.append(
            Tool(name, description, schema, opt(t, "cache_control", dict, "an object", at))
        )
    return tools


def _tool_choice(body: dict[str, Any]) -> tuple[ToolChoice | None, bool | None]:
    """(canonical tool choice, parallel tool calls)."""
    tc = opt(body, "tool_choice", dict, "an object")
    if tc is None:
        return None, None
    kind = kind_of(tc, "tool_choice", _CHOICE_TYPES, "tool choice")
    disable = opt(tc, "disable_parallel_tool_use", bool, "a boolean", "tool_choice")
    parallel = False if disable else None
    if kind == "tool":
        return {"name": need(tc, "name", STRING, "tool_choice")}, parallel
    return _CHOICES[kind], parallel


def _parse_system(body: dict[str, Any], opaque: list[str]) -> list[Message]:
    """The system prompt: a string or an array of text blocks."""
    system = body.get("system")
    if system is None:
        return []
    parts = _content_parts(system, "system", opaque, _SYSTEM_BLOCKS)
    return [Message("system", parts)] if system else []


def _user(body: dict[str, Any]) -> str | None:
    """``metadata.user_id``, the one field Anthropic's metadata has."""
    meta = opt(body, "metadata", dict, "an object")
    if meta is None:
        return None
    for key in meta:
        if key != "user_id":
            raise invalid(f"'metadata' has only a 'user_id' field, not '{key[:64]}'.", "metadata")
    user: str | None = opt(meta, "user_id", str, "a string", "metadata")
    return user


def _thinking(body: dict[str, Any]) -> dict[str, Any] | None:
    thinking: dict[str, Any] | None = opt(body, "thinking", dict, "an object")
    if thinking is not None:
        if kind_of(thinking, "thinking", _THINKING, "thinking") == "enabled":
            need(thinking, "budget_tokens", INTEGER, "thinking")
        opt(thinking, "display", str, "a string", "thinking")
    return thinking


#: Top-level keys the canonical request carries; the rest is kept in ``extra`` for an
#: Anthropic upstream (a rewritten request is encoded anew and must not lose them).
_MODELED = frozenset(
    "model messages system stream max_tokens temperature top_p stop_sequences tools "
    "tool_choice thinking metadata".split()
)


def parse_request(body: Any) -> ChatRequest:
    """Validate an Anthropic Messages body (``/v1/messages``) and build the canonical request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' is required and must be a non-empty array.", param="messages"
        )
    check(body, _PASSED)
    check(body.get("output_config") or {}, _OUTPUT_CONFIG, "output_config")
    opaque: list[str] = []
    choice, parallel = _tool_choice(body)
    return ChatRequest(
        model=opt(body, "model", str, "a string") or "",
        messages=_parse_system(body, opaque) + _messages(messages, opaque),
        stream=bool(opt(body, "stream", bool, "a boolean")),
        max_tokens=opt_int(body, "max_tokens", minimum=1),
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        stop=opt_strings(body, "stop_sequences"),
        tools=_tools(opt_list(body, "tools"), opaque),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        user=_user(body),
        thinking=_thinking(body),
        extra={k: v for k, v in body.items() if k not in _MODELED},
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
    # A rewritten Anthropic request keeps the parameters the canonical model does not carry.
    body: dict[str, Any] = dict(req.extra) if req.shape == SHAPE else {}
    body["model"] = model_id
    body["max_tokens"] = req.max_tokens or DEFAULT_MAX_TOKENS
    body["messages"] = _encode_messages(req.messages)
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
