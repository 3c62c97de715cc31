"""OpenAI Responses requests, both ways (pure, no IO): the client shape's parser, the
conversation items Plano stores for ``previous_response_id``, and the upstream body.

``input`` items are the one conversation format of this module: client input is parsed from
them, stored conversations are kept as them, and a Responses upstream is sent them. Instructions
are never stored: as in OpenAI's API they do not carry over to the next turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from plano.errors import InvalidRequest, UnsupportedCapability
from plano.wire.common import bad, forced_tool, opt, opt_list

__all__ = [
    "SHAPE",
    "TurnState",
    "encode_request",
    "expand",
    "input_items",
    "parse_items",
    "parse_request",
    "render_items",
    "turn_state",
]

SHAPE = "openai_responses"
_TEXT_PARTS = frozenset(("input_text", "output_text", "text", "summary_text"))
_ROLES = frozenset(("user", "assistant", "system", "developer"))


# ---------------------------------------------------------------- items -> canonical


def _parts(content: Any, where: str, opaque: list[str]) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or an array of content parts.", where)
    parts: list[Part] = []
    for j, p in enumerate(content):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in _TEXT_PARTS and isinstance(p.get("text"), str):
            parts.append(TextPart(p["text"]))
        elif kind == "refusal" and isinstance(p.get("refusal"), str):
            parts.append(TextPart(p["refusal"]))
        elif kind == "input_image" and isinstance(p.get("image_url"), str):
            parts.append(ImagePart(p["image_url"], p.get("detail")))
        elif kind is None:
            raise bad(f"'{where}[{j}]' must be an object with a 'type'.", f"{where}[{j}]")
        else:
            opaque.append(f"'{kind}' content part")
    return parts


def _assistant(out: list[Message]) -> Message:
    """The assistant message new calls join: the last one unless a tool result followed it."""
    if out and out[-1].role == "assistant":
        return out[-1]
    msg = Message("assistant")
    out.append(msg)
    return msg


def _item(item: dict[str, Any], at: str, out: list[Message], opaque: list[str]) -> None:
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise InvalidRequest(
                f"'{at}.role' must be user, assistant, system or developer.",
                param=f"{at}.role",
                code="invalid_value",
            )
        parts = _parts(item.get("content"), f"{at}.content", opaque)
        last = out[-1] if out else None
        # An assistant message right after its own reasoning item is one turn.
        if (
            role == "assistant"
            and last is not None
            and last.role == "assistant"
            and not (last.tool_calls or last.text())
        ):
            last.content.extend(parts)
        else:
            out.append(Message(role, parts))
    elif kind == "function_call":
        if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
            raise bad(f"'{at}' needs string call_id and name.", at)
        args = item.get("arguments")
        call = ToolCall(item["call_id"], item["name"], args if isinstance(args, str) else "")
        _assistant(out).tool_calls.append(call)
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise bad(f"'{at}.call_id' must be a string.", f"{at}.call_id")
        parts = _parts(item.get("output", ""), f"{at}.output", opaque)
        out.append(Message("tool", parts, tool_call_id=item["call_id"]))
    elif kind == "reasoning":
        summary = " ".join(
            s["text"] for s in item.get("summary") or () if isinstance(s, dict) and "text" in s
        )
        sig = item.get("encrypted_content")
        out.append(Message("assistant", [ThinkingPart(summary, sig if sig else None)]))
    else:
        opaque.append(f"'{kind}' input item")


def parse_items(items: Sequence[Any], opaque: list[str], where: str = "input") -> list[Message]:
    """Responses input items to canonical messages; consecutive calls join one assistant turn
    (parallel calls), each call output becomes a ``tool`` message."""
    out: list[Message] = []
    for j, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"'{where}[{j}]' must be an object.", f"{where}[{j}]")
        _item(item, f"{where}[{j}]", out, opaque)
    return out


# ---------------------------------------------------------------- client request


def _tools(raw: list[Any], opaque: list[str]) -> list[Tool]:
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise bad(f"'tools[{i}]' must be an object.", f"tools[{i}]")
        if t.get("type") != "function":
            opaque.append(f"hosted tool '{t.get('type')}'")
            continue
        if not isinstance(t.get("name"), str):
            raise bad(f"'tools[{i}].name' must be a string.", f"tools[{i}].name")
        params = t.get("parameters") or {}
        if not isinstance(params, dict):
            raise bad(f"'tools[{i}].parameters' must be an object.", f"tools[{i}].parameters")
        tools.append(Tool(t["name"], t.get("description"), params))
    return tools


def _tool_choice(tc: Any, opaque: list[str]) -> ToolChoice | None:
    if tc is None or tc in ("auto", "none", "required"):
        return tc  # type: ignore[no-any-return]
    if isinstance(tc, dict) and tc.get("type") == "function" and isinstance(tc.get("name"), str):
        return {"name": tc["name"]}
    if isinstance(tc, dict):
        opaque.append(f"tool_choice '{tc.get('type')}'")
        return None
    raise bad("'tool_choice' must be auto, none, required or an object.", "tool_choice")


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": str(fmt.get("type"))}


def _input(body: dict[str, Any], opaque: list[str]) -> list[Message]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [Message("user", [TextPart(raw)])]
    if isinstance(raw, list) and raw:
        return parse_items(raw, opaque)
    raise InvalidRequest("'input' must be a string or a non-empty array of items.", param="input")


def parse_request(body: Any) -> ChatRequest:
    """Validate an OpenAI Responses body (``/v1/responses``) and build the canonical request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    for key in ("background", "conversation"):
        if body.get(key):
            raise UnsupportedCapability(
                f"'{key}' is not supported by this gateway; use previous_response_id.", param=key
            )
    opt(body, "previous_response_id", str, "a string")
    opt(body, "store", bool, "a boolean")
    opaque: list[str] = []
    instructions = opt(body, "instructions", str, "a string")
    head = [Message("system", [TextPart(instructions)])] if instructions else []
    max_tokens = opt(body, "max_output_tokens", int, "an integer")
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("'max_output_tokens' must be at least 1.", param="max_output_tokens")
    meta = opt(body, "metadata", dict, "an object") or {}
    return ChatRequest(
        model=opt(body, "model", str, "a string") or "",
        messages=head + _input(body, opaque),
        stream=bool(opt(body, "stream", bool, "a boolean")),
        max_tokens=max_tokens,
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        tools=_tools(opt_list(body, "tools"), opaque),
        tool_choice=_tool_choice(body.get("tool_choice"), opaque),
        parallel_tool_calls=opt(body, "parallel_tool_calls", bool, "a boolean"),
        response_format=_response_format(body.get("text")),
        user=opt(body, "user", str, "a string"),
        metadata={str(k): str(v) for k, v in meta.items()},
        shape=SHAPE,
        raw=body,
        opaque=opaque,
    )


# ---------------------------------------------------------------- conversation state


@dataclass(frozen=True, slots=True)
class TurnState:
    """What the response store needs from a Responses request."""

    previous_response_id: str | None
    store: bool
    #: This turn's input as items (``instructions`` excluded).
    input: list[dict[str, Any]]


def turn_state(req: ChatRequest) -> TurnState:
    """The state-related parameters of a request parsed by :func:`parse_request`."""
    raw = req.raw or {}
    given = raw.get("input")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else list(given or ())
    prev = raw.get("previous_response_id")
    return TurnState(prev if isinstance(prev, str) else None, raw.get("store") is not False, items)


def expand(req: ChatRequest, history: list[dict[str, Any]]) -> None:
    """Put a stored conversation (items) before this turn's input, in the canonical messages
    and in the raw body a Responses upstream receives (which then no longer names the
    previous response: Plano, not the upstream, holds the state)."""
    opaque: list[str] = []
    past = parse_items(history, opaque, "previous_response")
    at = 1 if req.messages and (req.raw or {}).get("instructions") else 0
    req.messages[at:at] = past
    req.opaque.extend(opaque)
    if req.raw is not None:
        raw = {k: v for k, v in req.raw.items() if k != "previous_response_id"}
        # Reasoning items Plano rendered itself carry no upstream id; OpenAI would reject them.
        kept = [i for i in history if i.get("type") != "reasoning" or i.get("id")]
        raw["input"] = kept + turn_state(req).input
        req.raw = raw


# ---------------------------------------------------------------- canonical -> items


def _content(parts: Sequence[Part], text_type: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": text_type, "text": p.text})
        elif isinstance(p, ImagePart):
            img: dict[str, Any] = {"type": "input_image", "image_url": p.url}
            img["detail"] = p.detail or "auto"
            out.append(img)
    return out


def input_items(m: Message, *, reasoning: bool = True) -> list[dict[str, Any]]:
    """One canonical message as Responses input items (no item ids: they are optional in
    input and only an upstream's own ids would be accepted)."""
    if m.role == "tool":
        content = _content(m.content, "input_text")
        plain = all(c["type"] == "input_text" for c in content)
        output: Any = m.text() if plain else content
        return [{"type": "function_call_output", "call_id": m.tool_call_id or "", "output": output}]
    if m.role != "assistant":
        return [{"type": "message", "role": m.role, "content": _content(m.content, "input_text")}]
    out: list[dict[str, Any]] = []
    for p in m.content:
        if reasoning and isinstance(p, ThinkingPart) and p.signature:
            summary = [{"type": "summary_text", "text": p.text}] if p.text else []
            out.append({"type": "reasoning", "summary": summary, "encrypted_content": p.signature})
    visible = [p for p in m.content if not isinstance(p, ThinkingPart)]
    if visible:
        content = _content(visible, "output_text")
        out.append({"type": "message", "role": "assistant", "content": content})
    out += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in m.tool_calls
    ]
    return out


def render_items(messages: Sequence[Message], *, reasoning: bool = True) -> list[dict[str, Any]]:
    """Canonical messages as Responses input items."""
    return [i for m in messages for i in input_items(m, reasoning=reasoning)]


# ---------------------------------------------------------------- upstream request


def _tool_choice_out(req: ChatRequest) -> Any:
    name = forced_tool(req.tool_choice)
    if name is not None:
        return {"type": "function", "name": name}
    return req.tool_choice


def encode_request(req: ChatRequest, model_id: str) -> dict[str, Any]:
    """The body for a Responses upstream: the client's own (already expanded) body when it is
    a Responses request, else a stateless translation (``store: false``: Plano holds state)."""
    if req.raw is not None and req.shape == SHAPE:
        return {**req.raw, "model": model_id}
    body: dict[str, Any] = {
        "model": model_id,
        "input": render_items(req.messages, reasoning=False),
        "store": False,
    }
    for key, val in (
        ("max_output_tokens", req.max_tokens),
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("parallel_tool_calls", req.parallel_tool_calls),
        ("user", req.user),
    ):
        if val is not None:
            body[key] = val
    if req.stream:
        body["stream"] = True
    if req.tools:
        # strict defaults to true in this API and rejects ordinary schemas: ask for what the
        # client asked for elsewhere (non-strict function calling).
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters or {"type": "object", "properties": {}},
                "strict": False,
            }
            for t in req.tools
        ]
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice_out(req)
    fmt = req.response_format
    if fmt is not None and fmt.get("type") == "json_schema":
        body["text"] = {"format": {"type": "json_schema", **(fmt.get("json_schema") or {})}}
    elif fmt is not None and fmt.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    return body
