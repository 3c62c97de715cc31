"""OpenAI Responses API: request parsing and response rendering (pure).

Follows https://platform.openai.com/docs/api-reference/responses: a ``response`` object whose
``output`` holds ``message`` items (``output_text`` parts) or ``function_call`` items, and the
streaming events from ``response.created`` to ``response.completed`` (``response.incomplete``
when ``max_output_tokens`` cut the answer), each with a ``sequence_number``.
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
from plano.sim.openai_chat import openai_authenticate, openai_error, optional_int

__all__ = ["Responses"]

#: Request fields echoed in the response object, with the API's defaults.
_ECHOED: Final[dict[str, Any]] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "store": True,
    "temperature": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "user": None,
}


def _usage(u: Usage) -> dict[str, Any]:
    completion = u.completion_tokens
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.prompt_tokens + completion,
    }


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", "tools")
    specs = []
    for tool in raw:
        if isinstance(tool, dict) and tool.get("type") == "function":
            if not isinstance(tool.get("name"), str):
                raise BadRequest("Missing required parameter: 'tools[].name'.", "tools")
            specs.append(ToolSpec(tool["name"], tool.get("parameters")))
    return tuple(specs)


def _tool_choice(choice: Any) -> tuple[ToolMode, str | None]:
    if choice in ("none", "required"):
        return choice, None
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return "required", choice["name"]
    return "auto", None


def _input(body: Mapping[str, Any]) -> tuple[list[str], str, str | None]:
    """(texts for counting, last user text, trailing function-call output)."""
    raw = body.get("input")
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    if isinstance(raw, str):
        return [*texts, raw], raw, None
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'input' must be a string or a non-empty array.", "input")
    user_text = ""
    result: str | None = None
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("Each input item must be an object.", "input")
        kind = item.get("type", "message")
        result = None
        if kind == "function_call_output":
            out = item.get("output")
            result = out if isinstance(out, str) else text_of(out)
            texts.append(result)
        elif kind == "function_call":
            texts.append(str(item.get("arguments", "")))
        elif kind == "message":
            text = text_of(item.get("content"))
            texts.append(text)
            if item.get("role") == "user" and text:
                user_text = text
    return texts, user_text, result


def _event(name: str, seq: int, data: dict[str, Any]) -> bytes:
    payload = orjson.dumps({"type": name, "sequence_number": seq, **data})
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


class Responses:
    """``POST /v1/responses``."""

    provider = "openai"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], require_auth: bool
    ) -> tuple[ErrorKind, str] | None:
        return openai_authenticate(headers, require_auth)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        return openai_error(kind, message)

    def parse(self, body: Any, model_hint: str, query: Mapping[str, str]) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("Missing required parameter: 'model'.", "model")
        texts, user_text, result = _input(body)
        tools = _tools(body)
        mode, forced = _tool_choice(body.get("tool_choice"))
        echo = {key: body.get(key, default) for key, default in _ECHOED.items()}
        return Prompt(
            model=model,
            user_text=user_text,
            tool_result=result,
            tools=tools,
            tool_mode=mode,
            forced_tool=forced,
            parallel_tools=body.get("parallel_tool_calls", True) is not False,
            max_tokens=optional_int(body, "max_output_tokens"),
            prompt_tokens=count_prompt(texts, tools),
            stream=body.get("stream") is True,
            echo=echo,
        )

    def _items(self, answer: Answer, meta: Meta) -> list[dict[str, Any]]:
        status = "incomplete" if answer.finish == "length" else "completed"
        if not answer.tool_calls:
            text = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
            return [
                {
                    "id": meta.ident("msg_"),
                    "type": "message",
                    "status": status,
                    "role": "assistant",
                    "content": [text],
                }
            ]
        return [
            {
                "id": "fc_" + c.key,
                "type": "function_call",
                "status": "completed",
                "call_id": "call_" + c.key,
                "name": c.name,
                "arguments": c.arguments,
            }
            for c in answer.tool_calls
        ]

    def _response(self, answer: Answer | None, meta: Meta, prompt: Prompt) -> dict[str, Any]:
        """The response object; ``answer=None`` gives the in-progress one that opens a stream."""
        status, incomplete = "in_progress", None
        if answer is not None:
            status = "incomplete" if answer.finish == "length" else "completed"
            if answer.finish == "length":
                incomplete = {"reason": "max_output_tokens"}
        return {
            "id": meta.ident("resp_"),
            "object": "response",
            "created_at": meta.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "model": meta.model,
            "output": [] if answer is None else self._items(answer, meta),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": None if answer is None else _usage(answer.usage),
            **prompt.echo,
        }

    def render(self, answer: Answer, meta: Meta, prompt: Prompt) -> bytes:
        return orjson.dumps(self._response(answer, meta, prompt))

    def stream(self, answer: Answer, meta: Meta, prompt: Prompt) -> list[bytes]:
        opening = self._response(None, meta, prompt)
        bodies: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": opening}),
            ("response.in_progress", {"response": opening}),
        ]
        for index, item in enumerate(self._items(answer, meta)):
            if item["type"] == "message":
                bodies += _message_events(index, item, answer)
            else:
                bodies += _call_events(index, item)
        final = self._response(answer, meta, prompt)
        done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        bodies.append((done, {"response": final}))
        return [_event(name, seq, data) for seq, (name, data) in enumerate(bodies)]


def _message_events(index: int, item: dict[str, Any], answer: Answer) -> list[tuple[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    part = item["content"][0]
    at = {**where, "content_index": 0}
    opened = {**item, "status": "in_progress", "content": []}
    empty = {**part, "text": ""}
    del empty["logprobs"]
    closed = {k: v for k, v in part.items() if k != "logprobs"}
    return [
        ("response.output_item.added", {"output_index": index, "item": opened}),
        ("response.content_part.added", {**at, "part": empty}),
        *[
            ("response.output_text.delta", {**at, "delta": p, "logprobs": []})
            for p in answer.pieces
        ],
        ("response.output_text.done", {**at, "text": part["text"], "logprobs": []}),
        ("response.content_part.done", {**at, "part": closed}),
        ("response.output_item.done", {"output_index": index, "item": item}),
    ]


def _call_events(index: int, item: dict[str, Any]) -> list[tuple[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    opened = {**item, "status": "in_progress", "arguments": ""}
    return [
        ("response.output_item.added", {"output_index": index, "item": opened}),
        *[
            ("response.function_call_arguments.delta", {**where, "delta": d})
            for d in split_text(item["arguments"])
        ],
        ("response.function_call_arguments.done", {**where, "arguments": item["arguments"]}),
        ("response.output_item.done", {"output_index": index, "item": item}),
    ]
