"""OpenAI chat completions requests, both ways (pure, no IO): the client shape's request
parser and the body Plano sends to an OpenAI-family upstream. Answers are in
:mod:`plano.wire.openai_chat_answer`, streams in :mod:`plano.wire.openai_chat_stream`.

Parsing validates as it builds the canonical request, so a wrong type becomes a 400 that names
the parameter. For an OpenAI-family upstream the client's body is forwarded with only ``model``
and ``stream_options`` changed, so parameters Plano does not model still reach the provider.
"""

from __future__ import annotations

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
    ARRAY,
    BOOLEAN,
    INTEGER,
    JSON_SCHEMA,
    NUMBER,
    OBJECT,
    STRING,
    Kind,
    Rule,
    bad,
    check,
    json_text,
    kind_of,
    missing,
    need,
    opt,
    opt_enum,
    opt_int,
    opt_list,
    opt_strings,
    string_map,
)

__all__ = ["SHAPE", "encode_request", "parse_request", "render_message"]

SHAPE = "openai_chat"
_ROLES = frozenset(("system", "developer", "user", "assistant", "tool"))
#: Keys the canonical request models; everything else goes to ``extra``.
_MODELED = frozenset(
    "model messages stream max_tokens max_completion_tokens temperature top_p stop tools "
    "tool_choice parallel_tool_calls response_format stream_options user metadata".split()
)
#: Content part types of this shape. Only text and image_url have canonical parts; the others
#: reach OpenAI-family upstreams through the raw body, and other families refuse them.
_PARTS = frozenset(("text", "image_url", "input_audio", "file", "refusal"))
#: The field each part type the canonical model cannot carry must hold, and its type.
_OPAQUE_PARTS: dict[str, Kind] = {"input_audio": OBJECT, "file": OBJECT, "refusal": STRING}
_TOOL_TYPES = frozenset(("function", "custom"))
_CHOICES = frozenset(("none", "auto", "required"))
_CHOICE_TYPES = frozenset(("function", "custom", "allowed_tools"))
_FORMATS = frozenset(("text", "json_object", "json_schema"))
#: Assistant fields that stand in for content (OpenAI allows ``content`` to be absent then).
_INSTEAD_OF_CONTENT = ("tool_calls", "function_call", "audio", "refusal")
_STREAM_OPTIONS: dict[str, Rule] = {"include_usage": BOOLEAN, "include_obfuscation": BOOLEAN}
#: Parameters of this shape that Plano passes on (in ``extra``) without reading them: their
#: types are checked; their values only where every OpenAI-compatible provider agrees on them
#: (service tiers, for one, differ: Groq has ``on_demand``).
_PASSED: dict[str, Rule] = {
    "audio": OBJECT,
    "frequency_penalty": NUMBER,
    "function_call": ((str, dict), "a string or an object"),
    "functions": ARRAY,
    "logit_bias": OBJECT,
    "logprobs": BOOLEAN,
    "moderation": OBJECT,
    "prediction": OBJECT,
    "presence_penalty": NUMBER,
    "prompt_cache_key": STRING,
    "prompt_cache_options": OBJECT,
    "prompt_cache_retention": STRING,
    # OpenAI's efforts, and "default", which Groq documents for its Qwen models.
    "reasoning_effort": frozenset(
        ("none", "minimal", "low", "medium", "high", "xhigh", "max", "default")
    ),
    "safety_identifier": STRING,
    "seed": INTEGER,
    "service_tier": STRING,
    "store": BOOLEAN,
    "top_logprobs": INTEGER,
    "verbosity": frozenset(("low", "medium", "high")),
    "web_search_options": OBJECT,
}


# ---------------------------------------------------------------- client request


def _image(p: dict[str, Any], at: str) -> ImagePart:
    img = p.get("image_url")
    if not isinstance(img, dict):
        img = {"url": img}  # a bare URL string in place of the object, accepted as always
    url = img.get("url")
    if not isinstance(url, str):
        raise bad(f"'{at}.image_url.url' must be a string.", at)
    return ImagePart(url, opt(img, "detail", str, "a string", f"{at}.image_url"))


def _parse_parts(content: list[Any], where: str, opaque: list[str]) -> list[Part]:
    parts: list[Part] = []
    for j, p in enumerate(content):
        at = f"{where}[{j}]"
        kind = kind_of(p, at, _PARTS, "content part")
        if kind == "text":
            text = p.get("text")
            if not isinstance(text, str):
                raise bad(f"'{at}.text' must be a string.", f"{at}.text")
            parts.append(TextPart(text, opt(p, "cache_control", dict, "an object", at)))
        elif kind == "image_url":
            parts.append(_image(p, at))
        else:
            need(p, kind, _OPAQUE_PARTS[kind], at)
            opaque.append(f"'{kind}' content part")
    return parts


def _parse_tool_calls(calls: Any, where: str, opaque: list[str]) -> list[ToolCall]:
    if not isinstance(calls, list):
        raise bad(f"'{where}' must be an array.", where)
    out = []
    for j, c in enumerate(calls):
        at = f"{where}[{j}]"
        if not isinstance(c, dict):
            raise bad(f"Invalid type for '{at}': expected an object.", at)
        # ``type`` may be absent: OpenAI-compatible servers (vLLM, Ollama) default it.
        kind = opt_enum(c, "type", _TOOL_TYPES, at)
        call_id = opt(c, "id", str, "a string", at) or ""
        if kind == "custom":
            need(need(c, "custom", OBJECT, at), "name", STRING, f"{at}.custom")
            opaque.append("custom tool call")
            continue
        fn = c.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad(f"'{at}.function.name' must be a string.", at)
        args = fn.get("arguments")
        if args is None:
            args = ""
        elif not isinstance(args, str):
            # Arguments sent as an object are accepted and kept as JSON text.
            args = json_text(args, f"{at}.function.arguments")
        out.append(ToolCall(call_id, fn["name"], args))
    return out


def _assistant_fields(m: dict[str, Any], where: str, opaque: list[str]) -> None:
    """Check the assistant-only fields; those the canonical model cannot carry are opaque."""
    opt(m, "refusal", str, "a string", where)
    audio = opt(m, "audio", dict, "an object", where)
    if audio is not None:
        need(audio, "id", STRING, f"{where}.audio")
        opaque.append("assistant audio")
    call = opt(m, "function_call", dict, "an object", where)
    if call is not None:
        need(call, "name", STRING, f"{where}.function_call")
        need(call, "arguments", STRING, f"{where}.function_call")
        opaque.append("assistant function_call")


def _parse_content(m: dict[str, Any], role: str, where: str, opaque: list[str]) -> list[Part]:
    content = m.get("content")
    if isinstance(content, str):
        return [TextPart(content)]
    if isinstance(content, list):
        return _parse_parts(content, f"{where}.content", opaque)
    if content is not None:
        raise bad(
            f"Invalid type for '{where}.content': expected a string or an array of parts.",
            f"{where}.content",
        )
    # Only an assistant turn that says something else (a call, a refusal) may lack content.
    if role != "assistant" or not any(m.get(k) for k in _INSTEAD_OF_CONTENT):
        raise missing(f"{where}.content", f"a {role} message needs a string or an array of parts")
    return []


#: Roles whose message is fully described by ``{"role", "content": "<text>"}``.
_PLAIN_ROLES = frozenset(("system", "developer", "user", "assistant"))


def _parse_message(m: Any, i: int, opaque: list[str]) -> Message:
    # Fast path for the messages that make up most of a long conversation: a role and a
    # string (plus the call id of a tool result). Same checks, fewer calls per message.
    if type(m) is dict:
        content = m.get("content")
        role = m.get("role")
        n = len(m)
        if type(content) is str:
            if n == 2 and type(role) is str and role in _PLAIN_ROLES:
                return Message(role, [TextPart(content)])  # type: ignore[arg-type]
            if n == 3 and role == "tool" and type(call := m.get("tool_call_id")) is str:
                return Message("tool", [TextPart(content)], [], call)
        if n == 3 and role == "assistant" and (calls := _plain_calls(m.get("tool_calls"))):
            if content is None or content == "":
                return Message("assistant", [], calls)
            if type(content) is str:
                return Message("assistant", [TextPart(content)], calls)
    return _parse_message_fully(m, i, opaque)


def _plain_calls(calls: Any) -> list[ToolCall] | None:
    """Tool calls in their usual form (``id``, ``type: function``, ``function`` with a name
    and string arguments, nothing else), or ``None`` for the full parse to check."""
    if type(calls) is not list or not calls:
        return None
    out = []
    for c in calls:
        if type(c) is not dict or len(c) != 3 or c.get("type") != "function":
            return None
        call_id, fn = c.get("id"), c.get("function")
        if type(call_id) is not str or type(fn) is not dict or len(fn) != 2:
            return None
        name, args = fn.get("name"), fn.get("arguments")
        if type(name) is not str or type(args) is not str:
            return None
        out.append(ToolCall(call_id, name, args))
    return out


def _parse_message_fully(m: Any, i: int, opaque: list[str]) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise bad(f"Invalid type for '{where}': expected an object.", where)
    role = m.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidRequest(
            f"Invalid value for '{where}.role': expected one of "
            "system, developer, user, assistant, tool.",
            param=f"{where}.role",
            code="invalid_value",
        )
    parts = _parse_content(m, role, where, opaque)
    reasoning = m.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.insert(0, ThinkingPart(reasoning))
    calls: list[ToolCall] = []
    if role == "assistant":
        _assistant_fields(m, where, opaque)
        if m.get("tool_calls") is not None:
            calls = _parse_tool_calls(m["tool_calls"], f"{where}.tool_calls", opaque)
    # Required by OpenAI, but OpenAI-compatible servers accept a tool result without it; the
    # translations then pair results with calls by order.
    call_id = opt(m, "tool_call_id", str, "a string", where) if role == "tool" else None
    name = opt(m, "name", str, "a string", where)
    return Message(role, parts, calls, call_id, name)  # type: ignore[arg-type]


def _parse_tools(tools: list[Any], opaque: list[str]) -> list[Tool]:
    out = []
    for i, t in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(t, dict):
            raise bad(f"Invalid type for '{at}': expected an object.", at)
        if opt_enum(t, "type", _TOOL_TYPES, at) == "custom":
            need(need(t, "custom", OBJECT, at), "name", STRING, f"{at}.custom")
            opaque.append("custom tool")
            continue
        fn = t.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad(f"'{at}.function.name' must be a string.", at)
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad(f"'{at}.function.parameters' must be an object.", at)
        opt(fn, "strict", bool, "a boolean", f"{at}.function")
        description = opt(fn, "description", str, "a string", f"{at}.function")
        out.append(Tool(fn["name"], description, params or {}))
    return out


def _parse_tool_choice(body: dict[str, Any], opaque: list[str]) -> ToolChoice | None:
    choice = opt(body, "tool_choice", (str, dict), "a string or an object")
    if isinstance(choice, str):
        return opt_enum(body, "tool_choice", _CHOICES)
    if choice is None:
        return None
    kind = kind_of(choice, "tool_choice", _CHOICE_TYPES, "tool choice")
    # Each form names its details under its type: {"type": "function", "function": {...}}.
    details = need(choice, kind, OBJECT, "tool_choice")
    if kind == "function":
        need(details, "name", STRING, "tool_choice.function")
        return choice  # type: ignore[no-any-return]
    opaque.append(f"tool_choice '{kind}'")
    return None


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt: dict[str, Any] | None = opt(body, "response_format", dict, "an object")
    if (
        fmt is not None
        and kind_of(fmt, "response_format", _FORMATS, "response format") == "json_schema"
    ):
        schema = need(fmt, "json_schema", OBJECT, "response_format")
        check(schema, JSON_SCHEMA, "response_format.json_schema")
    return fmt


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise bad("Invalid type for 'stop': expected a string or an array of strings.", "stop")
    return stop or []


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
    max_tokens = None
    for key in ("max_tokens", "max_completion_tokens"):  # both checked; the newer name wins
        value = opt_int(body, key, minimum=1)
        if value is not None:
            max_tokens = value
    opts = opt(body, "stream_options", dict, "an object") or {}
    check(opts, _STREAM_OPTIONS, "stream_options")
    check(body, _PASSED)
    opt_int(body, "n", minimum=1)
    opt_strings(body, "modalities")
    opaque: list[str] = []
    return ChatRequest(
        model=model,
        messages=[_parse_message(m, i, opaque) for i, m in enumerate(messages)],
        stream=bool(opt(body, "stream", bool, "a boolean")),
        max_tokens=max_tokens,
        temperature=opt(body, "temperature", (int, float), "a number"),
        top_p=opt(body, "top_p", (int, float), "a number"),
        stop=_stop(body),
        tools=_parse_tools(opt_list(body, "tools"), opaque),
        tool_choice=_parse_tool_choice(body, opaque),
        parallel_tool_calls=opt(body, "parallel_tool_calls", bool, "a boolean"),
        response_format=_response_format(body),
        include_usage=opts.get("include_usage") is True,
        user=opt(body, "user", str, "a string"),
        metadata=string_map(body),
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


def render_message(m: Message) -> dict[str, Any]:
    """A canonical message in this shape (thinking parts are left out)."""
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
    body["messages"] = [render_message(m) for m in req.messages]
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
