"""Google Gemini ``generateContent`` / ``streamGenerateContent``: parsing and rendering (pure).

Follows https://ai.google.dev/api/generate-content. A stream is a sequence of complete
``GenerateContentResponse`` objects: with ``alt=sse`` each is ``data: {...}\\r\\n\\r\\n``, without
it they form one JSON array. ``usageMetadata`` comes with the last chunk. As the real API does,
``cachedContentTokenCount`` and ``thoughtsTokenCount`` are left out when they are zero.
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
    text_of,
)
from plano.sim.faults import STATUS

__all__ = ["Gemini", "gemini_error"]

_FINISH: Final = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_STATUS_NAMES: Final[dict[ErrorKind, str]] = {
    "bad_request": "INVALID_ARGUMENT",
    "context_length": "INVALID_ARGUMENT",
    "auth": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "server": "INTERNAL",
    "unavailable": "UNAVAILABLE",
}
_NO_KEY: Final = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def gemini_error(kind: ErrorKind, message: str) -> bytes:
    error = {"code": STATUS[kind], "message": message, "status": _STATUS_NAMES[kind]}
    return orjson.dumps({"error": error})


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """The API accepts both spellings of each field."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    specs = []
    for tool in body.get("tools") or ():
        decls = (
            _get(tool, "functionDeclarations", "function_declarations")
            if isinstance(tool, dict)
            else None
        )
        for decl in decls or ():
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise BadRequest("* GenerateContentRequest.tools: function name is required")
            params = decl.get("parameters") or _get(
                decl, "parametersJsonSchema", "parameters_json_schema"
            )
            specs.append(ToolSpec(decl["name"], params))
    return tuple(specs)


def _tool_choice(body: Mapping[str, Any]) -> tuple[ToolMode, str | None]:
    config = _get(body, "toolConfig", "tool_config") or {}
    calling = _get(config, "functionCallingConfig", "function_calling_config") or {}
    mode = str(calling.get("mode", "AUTO")).upper()
    if mode == "NONE":
        return "none", None
    if mode == "ANY":
        allowed = _get(calling, "allowedFunctionNames", "allowed_function_names") or []
        return "required", allowed[0] if allowed else None
    return "auto", None


def _function_result(parts: list[Any]) -> str | None:
    responses = [
        _get(p, "functionResponse", "function_response") for p in parts if isinstance(p, dict)
    ]
    found = [r for r in responses if isinstance(r, dict)]
    if not found:
        return None
    values: list[str] = []
    for r in found:
        resp = r.get("response")
        items = resp.values() if isinstance(resp, dict) else [resp]
        values += [v if isinstance(v, str) else orjson.dumps(v).decode() for v in items]
    return " ".join(values)


def _contents(body: Mapping[str, Any]) -> tuple[list[str], str, str | None]:
    """(texts for counting, last user text, trailing function result)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    system = _get(body, "systemInstruction", "system_instruction")
    texts = [text_of(system.get("parts"))] if isinstance(system, dict) else []
    user_text = ""
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise BadRequest("* GenerateContentRequest.contents: parts must be a list")
        text = text_of(content["parts"])
        texts.append(text)
        if content.get("role", "user") == "user" and text:
            user_text = text
    result = _function_result(contents[-1]["parts"])
    if result is not None:
        texts.append(result)
    return texts, user_text, result


def _max_tokens(config: Mapping[str, Any]) -> int | None:
    value = _get(config, "maxOutputTokens", "max_output_tokens")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadRequest("* GenerateContentRequest.generation_config.max_output_tokens: int")
    return value


def _usage_metadata(u: Usage) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "promptTokenCount": u.prompt_tokens,
        "candidatesTokenCount": u.output_tokens,
        "totalTokenCount": u.prompt_tokens + u.output_tokens + u.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.prompt_tokens}],
    }
    if u.cached_tokens:
        meta["cachedContentTokenCount"] = u.cached_tokens
    if u.reasoning_tokens:
        meta["thoughtsTokenCount"] = u.reasoning_tokens
    return meta


class Gemini:
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``."""

    provider = "gemini"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], require_auth: bool
    ) -> tuple[ErrorKind, str] | None:
        if not require_auth or headers.get("x-goog-api-key") or query.get("key"):
            return None
        if headers.get("authorization", "").startswith("Bearer "):
            return None
        return "permission", _NO_KEY

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return gemini_error(kind, message)

    def parse(self, body: Any, model_hint: str, query: Mapping[str, str]) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("Invalid JSON payload received.")
        model, _, action = model_hint.partition(":")
        texts, user_text, result = _contents(body)
        tools = _tools(body)
        mode, forced = _tool_choice(body)
        config = _get(body, "generationConfig", "generation_config") or {}
        thinking = _get(config, "thinkingConfig", "thinking_config") or {}
        stream = action == "streamGenerateContent"
        return Prompt(
            model=model,
            user_text=user_text,
            tool_result=result,
            tools=tools,
            tool_mode=mode,
            forced_tool=forced,
            max_tokens=_max_tokens(config),
            prompt_tokens=count_prompt(texts, tools),
            stream=stream,
            thinking=_get(thinking, "includeThoughts", "include_thoughts") is True,
            array_stream=stream and query.get("alt") != "sse",
        )

    def _chunk(
        self, parts: list[dict[str, Any]], meta: Meta, answer: Answer | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        out: dict[str, Any] = {"candidates": [candidate]}
        if answer is not None:
            candidate["finishReason"] = _FINISH[answer.finish]
            out["usageMetadata"] = _usage_metadata(answer.usage)
        out["modelVersion"] = meta.model
        out["responseId"] = meta.ident("")
        return out

    def render(self, answer: Answer, meta: Meta, prompt: Prompt) -> bytes:
        parts: list[dict[str, Any]] = []
        if answer.thinking:
            parts.append({"text": answer.thinking_text, "thought": True})
        if answer.pieces or not answer.tool_calls:
            parts.append({"text": answer.text})
        parts += [{"functionCall": {"name": c.name, "args": c.args}} for c in answer.tool_calls]
        return orjson.dumps(self._chunk(parts, meta, answer))

    def stream(self, answer: Answer, meta: Meta, prompt: Prompt) -> list[bytes]:
        groups: list[list[dict[str, Any]]] = [
            [{"text": p, "thought": True}] for p in answer.thinking
        ]
        groups += [[{"text": p}] for p in answer.pieces]
        if answer.tool_calls:
            groups.append(
                [{"functionCall": {"name": c.name, "args": c.args}} for c in answer.tool_calls]
            )
        if not groups:
            groups.append([{"text": ""}])
        last = len(groups) - 1
        chunks = [
            orjson.dumps(self._chunk(parts, meta, answer if i == last else None))
            for i, parts in enumerate(groups)
        ]
        if prompt.array_stream:
            framed = [b",\r\n" + c for c in chunks]
            framed[0] = b"[" + chunks[0]
            framed.append(b"]")
            return framed
        return [b"data: " + c + b"\r\n\r\n" for c in chunks]
