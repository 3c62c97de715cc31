"""Gemini ``generateContent`` as an upstream family (pure, no IO): the request body, the
response, usage and errors.

Gemini differs from the other families in ways that lose data if handled loosely:

* function calls carry no ids: Plano synthesizes stable ids (:func:`call_id`) and maps
  function responses back to the call's *name* (by id over the conversation, then by order);
* ``promptTokenCount`` includes cached tokens but not ``toolUsePromptTokenCount``;
  ``candidatesTokenCount`` excludes ``thoughtsTokenCount``;
* thought signatures ride on parts; they are kept as empty, signed thinking parts so that a
  client that echoes its history hands them back.
"""

from __future__ import annotations

import hashlib
import re
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
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)
from plano.errors import InvalidRequest, UpstreamProtocolError
from plano.wire.common import arguments_object, call_names, data_url, forced_tool, tool_mode

__all__ = [
    "call_id",
    "decode_parts",
    "decode_response",
    "decode_usage",
    "encode_request",
    "finish_of",
    "parse_error",
]

#: Gemini ``finishReason`` -> canonical finish reason (blocked output is a content filter).
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


# ---------------------------------------------------------------- request


def _user_parts(parts: Sequence[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart) and p.text:
            out.append({"text": p.text})
        elif isinstance(p, ImagePart):
            # Remote URLs are refused before encoding (capabilities): Gemini fetches none.
            parsed = data_url(p.url)
            if parsed is not None:
                out.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
    return out


def _model_parts(m: Message, i: int) -> list[dict[str, Any]]:
    """An assistant turn. Gemini's own thought signatures (empty signed thinking parts) go back
    on the function calls, in order; thought text is never sent back."""
    signatures = [
        p.signature
        for p in m.content
        if isinstance(p, ThinkingPart) and p.signature and not p.text and p.redacted is None
    ]
    out = _user_parts([p for p in m.content if not isinstance(p, ThinkingPart)])
    for j, c in enumerate(m.tool_calls):
        args = arguments_object(c.arguments, f"messages[{i}].tool_calls[{j}].arguments")
        out.append({"functionCall": {"name": c.name, "args": args}})
    targets = [p for p in out if "functionCall" in p] or out[:1]
    for part, sig in zip(targets, signatures, strict=False):
        part["thoughtSignature"] = sig
    return out


def _function_response(m: Message, name: str) -> dict[str, Any]:
    text = m.text()
    if m.is_error:
        response: dict[str, Any] = {"error": text}
    else:
        try:
            value = orjson.loads(text) if text else ""
        except orjson.JSONDecodeError:
            value = text
        response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    names = call_names(list(messages))
    out: list[dict[str, Any]] = []
    pending: list[ToolCall] = []  # calls of the last assistant turn, for order matching
    answered = 0
    for i, m in enumerate(messages):
        if m.role in ("system", "developer"):
            continue
        if m.role == "assistant":
            role, parts = "model", _model_parts(m, i)
            pending, answered = list(m.tool_calls), 0
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "") or m.name
            if name is None and answered < len(pending):
                name = pending[answered].name
            if name is None:
                raise InvalidRequest(
                    f"messages[{i}] is a tool result that matches no tool call; Gemini needs "
                    "the function's name.",
                    param=f"messages[{i}].tool_call_id",
                )
            answered += 1
            role, parts = "user", [_function_response(m, name)]
        else:
            role, parts = "user", _user_parts(m.content)
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    for key, val in (
        ("maxOutputTokens", req.max_tokens),
        ("temperature", req.temperature),
        ("topP", req.top_p),
    ):
        if val is not None:
            gen[key] = val
    if req.stop:
        gen["stopSequences"] = req.stop
    fmt = req.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            gen["responseJsonSchema"] = schema
    thinking = req.thinking or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        budget = thinking.get("budget_tokens")
        config: dict[str, Any] = {"includeThoughts": True}
        if isinstance(budget, int):
            config["thinkingBudget"] = budget
        gen["thinkingConfig"] = config
    return gen


def _tool_config(req: ChatRequest) -> dict[str, Any] | None:
    name = forced_tool(req.tool_choice)
    mode = tool_mode(req.tool_choice)
    if mode is None:
        return None
    calling: dict[str, Any] = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[mode]}
    if name is not None:
        calling["allowedFunctionNames"] = [name]
    return {"functionCallingConfig": calling}


def encode_request(req: ChatRequest, model_id: str) -> dict[str, Any]:
    """The ``generateContent`` body for the canonical request."""
    body: dict[str, Any] = {"contents": _contents(req.messages)}
    system = [
        {"text": p.text}
        for m in req.messages
        if m.role in ("system", "developer")
        for p in m.content
        if isinstance(p, TextPart) and p.text
    ]
    if system:
        body["systemInstruction"] = {"parts": system}
    gen = _generation_config(req)
    if gen:
        body["generationConfig"] = gen
    if req.tools:
        decls = []
        for t in req.tools:
            decl: dict[str, Any] = {"name": t.name}
            if t.description:
                decl["description"] = t.description
            if t.parameters.get("properties"):
                # Full JSON Schema; the older ``parameters`` field rejects common keywords.
                decl["parametersJsonSchema"] = t.parameters
            decls.append(decl)
        body["tools"] = [{"functionDeclarations": decls}]
        config = _tool_config(req)
        if config is not None:
            body["toolConfig"] = config
    return body


# ---------------------------------------------------------------- response


def call_id(response_id: str, index: int, name: str, args: str) -> str:
    """A stable id for the ``index``-th function call of a response (Gemini sends none)."""
    seed = f"{response_id}\x00{index}\x00{name}\x00{args}".encode()
    return "call_" + hashlib.blake2b(seed, digest_size=12).hexdigest()


def decode_usage(meta: Any) -> Usage | None:
    """Gemini ``usageMetadata`` to canonical usage."""
    if not isinstance(meta, dict):
        return None
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0)
        + int(meta.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cache_read_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
        # Early stream chunks may carry only the prompt's count.
        has_output="candidatesTokenCount" in meta or "thoughtsTokenCount" in meta,
    )


def finish_of(reason: Any, has_calls: bool) -> FinishReason:
    finish = _FINISH.get(str(reason), "stop")
    return "tool_calls" if has_calls and finish == "stop" else finish


def decode_parts(
    parts: Any, response_id: str, first_call: int
) -> tuple[list[Part], list[ToolCall]]:
    """Content parts and function calls of one candidate (or one stream chunk of it)."""
    content: list[Part] = []
    calls: list[ToolCall] = []
    for p in parts if isinstance(parts, list) else ():
        if not isinstance(p, dict):
            continue
        sig = p.get("thoughtSignature")
        if isinstance(sig, str) and sig:
            content.append(ThinkingPart("", signature=sig))
        fn = p.get("functionCall")
        if isinstance(fn, dict):
            name = str(fn.get("name", ""))
            args = orjson.dumps(fn.get("args") or {}).decode()
            given = fn.get("id")
            cid = given if isinstance(given, str) and given else None
            index = first_call + len(calls)
            calls.append(ToolCall(cid or call_id(response_id, index, name, args), name, args))
        elif isinstance(p.get("text"), str) and p["text"]:
            content.append(ThinkingPart(p["text"]) if p.get("thought") else TextPart(p["text"]))
    return content, calls


def decode_response(body: Any) -> ChatResponse:
    """Canonical response from a ``generateContent`` body; raises on a broken body."""
    if not isinstance(body, dict):
        raise UpstreamProtocolError("The upstream returned a body that is not a JSON object.")
    rid = str(body.get("responseId", ""))
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        if (body.get("promptFeedback") or {}).get("blockReason"):
            choice = Choice(0, Message("assistant"), "content_filter")
        else:
            raise UpstreamProtocolError("The upstream returned a body without 'candidates'.")
    else:
        cand = candidates[0] if isinstance(candidates[0], dict) else {}
        content, calls = decode_parts((cand.get("content") or {}).get("parts"), rid, 0)
        finish = finish_of(cand.get("finishReason"), bool(calls))
        choice = Choice(0, Message("assistant", content, calls), finish)
    return ChatResponse(
        id=rid,
        model=str(body.get("modelVersion", "")),
        choices=[choice],
        usage=decode_usage(body.get("usageMetadata")),
        raw=body,
    )


def parse_error(body: bytes) -> tuple[str | None, str | None, float | None]:
    """(message, status name, retry delay in seconds) of a Google API error body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None
    if isinstance(data, list) and data:  # the JSON-array stream form wraps errors too
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None, None
    delay = None
    for d in err.get("details") or ():
        m = _DURATION.match(str(d.get("retryDelay", ""))) if isinstance(d, dict) else None
        if m:
            delay = float(m.group(1))
    status = err.get("status")
    message = str(err.get("message") or "") or None
    return message, status if isinstance(status, str) else None, delay
