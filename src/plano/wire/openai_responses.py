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
from plano.wire.common import (
    ARRAY,
    INTEGER,
    JSON_SCHEMA,
    OBJECT,
    STRING,
    Kind,
    Rule,
    bad,
    check,
    forced_tool,
    invalid,
    kind_of,
    need,
    opt,
    opt_enum,
    opt_int,
    opt_list,
    opt_strings,
    string_map,
    typename,
)

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
#: Content part types of input messages, and those that carry text. ``text`` is not the API's;
#: Plano has always read it as text, so it stays accepted.
_TEXT_PARTS = frozenset(("input_text", "output_text", "text"))
_PARTS = frozenset((*_TEXT_PARTS, "refusal", "input_image", "input_file", "input_audio"))
#: Content part types of a function call's output.
_OUTPUT_PARTS = frozenset(("input_text", "input_image", "input_file"))
_ROLES = frozenset(("user", "assistant", "system", "developer"))
#: Input item types of this API. Messages, function calls and their outputs and reasoning
#: have canonical forms; the others (hosted tools' calls, MCP, shell, ...) reach a Responses
#: upstream through the raw body, and other families refuse them.
_ITEMS = frozenset(
    (
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "item_reference",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "web_search_call",
        "tool_search_call",
        "tool_search_output",
        "additional_tools",
        "configuration_update",
        "compaction",
        "compaction_trigger",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "custom_tool_call",
        "custom_tool_call_output",
        "program",
        "program_output",
    )
)
_CONTENT: Kind = ((str, list), "a string or an array of content parts")
_CHOICES = frozenset(("auto", "none", "required"))
_FORMATS = frozenset(("text", "json_object", "json_schema"))
_REASONING: dict[str, Rule] = {
    "effort": frozenset(("none", "minimal", "low", "medium", "high", "xhigh", "max")),
    "summary": STRING,
    "generate_summary": STRING,
}
#: Parameters Plano passes on (in the raw body) without reading them: their types are checked.
_PASSED: dict[str, Rule] = {
    "context_management": ARRAY,
    "include": ARRAY,
    "max_tool_calls": INTEGER,
    "moderation": OBJECT,
    "prompt": OBJECT,
    "prompt_cache_key": STRING,
    "prompt_cache_options": OBJECT,
    "prompt_cache_retention": STRING,
    "reasoning": OBJECT,
    "safety_identifier": STRING,
    "service_tier": STRING,
    "stream_options": OBJECT,
    "text": OBJECT,
    "top_logprobs": INTEGER,
    "truncation": frozenset(("auto", "disabled")),
}


# ---------------------------------------------------------------- items -> canonical


def _parts(
    content: Any, where: str, opaque: list[str], kinds: frozenset[str] = _PARTS
) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or an array of content parts.", where)
    parts: list[Part] = []
    for j, p in enumerate(content):
        at = f"{where}[{j}]"
        kind = kind_of(p, at, kinds, "content part")
        if kind in _TEXT_PARTS:
            parts.append(TextPart(need(p, "text", STRING, at)))
        elif kind == "refusal":
            parts.append(TextPart(need(p, "refusal", STRING, at)))
        elif kind == "input_image" and (url := opt(p, "image_url", str, "a string", at)):
            parts.append(ImagePart(url, opt(p, "detail", str, "a string", at)))
        else:  # files, audio and images by file id
            opaque.append(f"'{kind}' content part")
    return parts


def _assistant(out: list[Message]) -> Message:
    """The assistant message new calls join: the last one unless a tool result followed it."""
    if out and out[-1].role == "assistant":
        return out[-1]
    msg = Message("assistant")
    out.append(msg)
    return msg


def _message(item: dict[str, Any], at: str, out: list[Message], opaque: list[str]) -> None:
    role = item.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise invalid(f"'{at}.role' must be user, assistant, system or developer.", f"{at}.role")
    content = need(item, "content", _CONTENT, at)
    parts = _parts(content, f"{at}.content", opaque)
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
        out.append(Message(role, parts))  # type: ignore[arg-type]


def _reasoning(item: dict[str, Any], at: str) -> Message:
    texts = []
    for j, s in enumerate(opt_list(item, "summary", at)):
        if not isinstance(s, dict):
            p = f"{at}.summary[{j}]"
            raise bad(f"Invalid type for '{p}': expected an object, got {typename(s)}.", p)
        texts.append(need(s, "text", STRING, f"{at}.summary[{j}]"))
    opt(item, "content", list, "an array", at)  # raw reasoning text: checked, not carried
    sig = opt(item, "encrypted_content", str, "a string", at)
    return Message("assistant", [ThinkingPart(" ".join(texts), sig or None)])


def _item_kind(item: Any, at: str) -> str:
    if isinstance(item, dict) and item.get("type") is None:
        # ``type`` may be left out of a message (it has a role) and an item reference (an id).
        if "role" in item:
            return "message"
        if "id" in item:
            return "item_reference"
    return kind_of(item, at, _ITEMS, "input item")


def _item(item: Any, at: str, out: list[Message], opaque: list[str]) -> None:
    kind = _item_kind(item, at)
    if kind == "message":
        _message(item, at, out, opaque)
    elif kind == "function_call":
        call_id, name = need(item, "call_id", STRING, at), need(item, "name", STRING, at)
        args = opt(item, "arguments", str, "a string", at) or ""
        _assistant(out).tool_calls.append(ToolCall(call_id, name, args))
    elif kind == "function_call_output":
        call_id = need(item, "call_id", STRING, at)
        output = need(item, "output", _CONTENT, at)
        parts = _parts(output, f"{at}.output", opaque, _OUTPUT_PARTS)
        out.append(Message("tool", parts, tool_call_id=call_id))
    elif kind == "reasoning":
        out.append(_reasoning(item, at))
    else:
        opaque.append(f"'{kind}' input item")


def parse_items(items: Sequence[Any], opaque: list[str], where: str = "input") -> list[Message]:
    """Responses input items to canonical messages; consecutive calls join one assistant turn
    (parallel calls), each call output becomes a ``tool`` message."""
    out: list[Message] = []
    for j, item in enumerate(items):
        _item(item, f"{where}[{j}]", out, opaque)
    return out


# ---------------------------------------------------------------- client request


def _tools(raw: list[Any], opaque: list[str]) -> list[Tool]:
    tools = []
    for i, t in enumerate(raw):
        at = f"tools[{i}]"
        if not isinstance(t, dict):
            raise bad(f"'{at}' must be an object.", at)
        kind = need(t, "type", STRING, at)
        if kind != "function":
            # Hosted tools run at the provider; new ones come often, so any type passes.
            opaque.append(f"hosted tool '{kind[:64]}'")
            continue
        name = t.get("name")
        if not isinstance(name, str):
            raise bad(f"'{at}.name' must be a string.", f"{at}.name")
        params = t.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad(f"'{at}.parameters' must be an object.", f"{at}.parameters")
        opt(t, "strict", bool, "a boolean", at)
        tools.append(Tool(name, opt(t, "description", str, "a string", at), params or {}))
    return tools


def _tool_choice(body: dict[str, Any], opaque: list[str]) -> ToolChoice | None:
    tc = opt(body, "tool_choice", (str, dict), "a string or an object")
    if isinstance(tc, str):
        return opt_enum(body, "tool_choice", _CHOICES)
    if tc is None:
        return None
    kind = need(tc, "type", STRING, "tool_choice")
    if kind == "function":
        return {"name": need(tc, "name", STRING, "tool_choice")}
    # Allowed tools, hosted tools, MCP, custom tools: only a Responses upstream knows them.
    opaque.append(f"tool_choice '{kind[:64]}'")
    return None


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    text = body.get("text") or {}
    opt(text, "verbosity", str, "a string", "text")
    fmt = opt(text, "format", dict, "an object", "text")
    if fmt is None or kind_of(fmt, "text.format", _FORMATS, "format") == "text":
        return None
    if fmt["type"] == "json_schema":
        check(fmt, JSON_SCHEMA, "text.format")
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": "json_object"}


def _input(body: dict[str, Any], opaque: list[str]) -> list[Message]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [Message("user", [TextPart(raw)])]
    if isinstance(raw, list) and raw:
        return parse_items(raw, opaque)
    raise InvalidRequest("'input' must be a string or a non-empty array of items.", param="input")


#: Top-level keys the canonical request carries (or Plano's state handles); the rest is kept
#: in ``extra`` for a Responses upstream (a rewritten request must not lose them).
_MODELED = frozenset(
    "model input instructions stream max_output_tokens temperature top_p tools tool_choice "
    "parallel_tool_calls text user metadata previous_response_id store".split()
)


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
    check(body, _PASSED)
    check(body.get("reasoning") or {}, _REASONING, "reasoning")
    opt_strings(body, "include")
    opaque: list[str] = []
    instructions = opt(body, "instructions", str, "a string")
    head = [Message("system", [TextPart(instructions)])] if instructions else []
    return ChatRequest(
        model=opt(body, "model", str, "a string") or "",
        messages=head + _input(body, opaque),
        stream=bool(opt(body, "stream", bool, "a boolean")),
        max_tokens=opt_int(body, "max_output_tokens", minimum=1),
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        tools=_tools(opt_list(body, "tools"), opaque),
        tool_choice=_tool_choice(body, opaque),
        parallel_tool_calls=opt(body, "parallel_tool_calls", bool, "a boolean"),
        response_format=_response_format(body),
        user=opt(body, "user", str, "a string"),
        metadata=string_map(body),
        extra={k: v for k, v in body.items() if k not in _MODELED},
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
    req.size = None  # measured before the history was in
    req.opaque.extend(opaque)
    if req.raw is not None:
        raw = {k: v for k, v in req.raw.items() if k != "previous_response_id"}
        # Reasoning items Plano rendered itself carry no upstream id; OpenAI would reject them.
        kept = [i for i in history if i.get("type") != "reasoning" or i.get("id")]
        raw["input"] = kept + turn_state(req).input
        req.raw = raw
        req.raw_body = None  # the bytes no longer say what the upstream must receive


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
    # A rewritten Responses request keeps the parameters the canonical model does not carry.
    body: dict[str, Any] = dict(req.extra) if req.shape == SHAPE else {}
    body["model"] = model_id
    body["input"] = render_items(req.messages, reasoning=False)
    body["store"] = False
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
