"""The three client shapes as plain HTTP clients for the conformance matrix.

Each client writes one shape-neutral conversation (:class:`Turn`) in its own wire shape and
reads answers, streams and errors back into one :class:`Outcome`, so every capability check is
written once and runs for every (client shape, upstream family) pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from plano.core.sse import SSEParser

#: One pooled client for the whole run (a fresh connection per call would dominate run time).
HTTP = httpx.Client(timeout=20)
#: (input incl. cache, output incl. reasoning, cache read, cache write, reasoning)
UsageTuple = tuple[int, int, int, int, int]


@dataclass
class Turn:
    role: str  # user | assistant | tool
    text: str = ""
    image: str | None = None  # a data URL
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    call_id: str = ""


@dataclass
class Outcome:
    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str = ""
    usage: UsageTuple | None = None
    #: Streams: the shape's clean end arrived ([DONE], message_stop, response.completed).
    ended: bool = False
    #: Streams: an in-band error event arrived.
    error: str | None = None


def _events(raw: bytes) -> list[tuple[str | None, Any]]:
    parser = SSEParser()
    out = []
    for ev in parser.feed(raw) + parser.flush():
        out.append((ev.event, ev.data if ev.data == "[DONE]" else orjson.loads(ev.data)))
    return out


def _args(text: str) -> dict[str, Any]:
    value = orjson.loads(text or "{}")
    assert isinstance(value, dict), text
    return value


class OpenAIChatClient:
    shape = "openai_chat"
    path = "/v1/chat/completions"
    headers = {"authorization": "Bearer client-key"}
    _FINISH = {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "content_filter": "content_filter",
    }

    def body(
        self,
        model: str,
        turns: list[Turn],
        system: str | None,
        tools: list[dict[str, Any]],
        stream: bool,
    ) -> dict[str, Any]:
        msgs: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        for t in turns:
            if t.role == "user":
                content: Any = t.text
                if t.image:
                    content = [
                        {"type": "text", "text": t.text},
                        {"type": "image_url", "image_url": {"url": t.image}},
                    ]
                msgs.append({"role": "user", "content": content})
            elif t.role == "assistant":
                m: dict[str, Any] = {"role": "assistant", "content": t.text or None}
                if t.calls:
                    m["tool_calls"] = [
                        {
                            "id": i,
                            "type": "function",
                            "function": {"name": n, "arguments": orjson.dumps(a).decode()},
                        }
                        for i, n, a in t.calls
                    ]
                msgs.append(m)
            else:
                msgs.append({"role": "tool", "tool_call_id": t.call_id, "content": t.text})
        body: dict[str, Any] = {"model": model, "messages": msgs, "max_tokens": 256}
        if tools:
            body["tools"] = [{"type": "function", "function": t} for t in tools]
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    @staticmethod
    def usage(u: dict[str, Any] | None) -> UsageTuple | None:
        if not u:
            return None
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        reasoning = (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
        return (u["prompt_tokens"], u["completion_tokens"], cached, 0, reasoning)

    def parse(self, data: dict[str, Any]) -> Outcome:
        choice = data["choices"][0]
        msg = choice["message"]
        calls = [
            (c["function"]["name"], _args(c["function"]["arguments"]))
            for c in msg.get("tool_calls") or ()
        ]
        return Outcome(
            msg.get("content") or "",
            calls,
            self._FINISH[choice["finish_reason"]],
            self.usage(data.get("usage")),
        )

    def parse_stream(self, raw: bytes) -> Outcome:
        out = Outcome()
        args: dict[int, list[Any]] = {}
        for _, data in _events(raw):
            if data == "[DONE]":
                out.ended = True
                continue
            if "error" in data:
                out.error = data["error"]["message"]
                continue
            out.usage = self.usage(data.get("usage")) or out.usage
            for c in data.get("choices") or ():
                out.text += c["delta"].get("content") or ""
                for tc in c["delta"].get("tool_calls") or ():
                    slot = args.setdefault(tc["index"], ["", ""])
                    slot[0] = tc["function"].get("name") or slot[0]
                    slot[1] += tc["function"].get("arguments") or ""
                if c.get("finish_reason"):
                    out.finish = self._FINISH[c["finish_reason"]]
        out.calls = [(n, _args(a)) for n, a in (args[k] for k in sorted(args))]
        return out

    @staticmethod
    def error_type(data: dict[str, Any]) -> str:
        assert data["error"]["message"]
        return str(data["error"]["type"])


class AnthropicClient:
    shape = "anthropic_messages"
    path = "/v1/messages"
    headers = {"x-api-key": "client-key", "anthropic-version": "2023-06-01"}
    _FINISH = {
        "end_turn": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }

    def body(
        self,
        model: str,
        turns: list[Turn],
        system: str | None,
        tools: list[dict[str, Any]],
        stream: bool,
    ) -> dict[str, Any]:
        msgs: list[dict[str, Any]] = []
        for t in turns:
            if t.role == "user":
                blocks: list[dict[str, Any]] = []
                if t.image:
                    media, _, data = t.image[5:].partition(";base64,")
                    src = {"type": "base64", "media_type": media, "data": data}
                    blocks.append({"type": "image", "source": src})
                blocks.append({"type": "text", "text": t.text})
                msgs.append({"role": "user", "content": blocks if t.image else t.text})
            elif t.role == "assistant":
                content = [{"type": "text", "text": t.text}] if t.text else []
                content += [
                    {"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in t.calls
                ]
                msgs.append({"role": "assistant", "content": content})
            else:
                block = {"type": "tool_result", "tool_use_id": t.call_id, "content": t.text}
                if msgs and msgs[-1]["role"] == "user" and isinstance(msgs[-1]["content"], list):
                    msgs[-1]["content"].append(block)
                else:
                    msgs.append({"role": "user", "content": [block]})
        body: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": msgs}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {
                    "name": t["name"],
                    "description": t["description"],
                    "input_schema": t["parameters"],
                }
                for t in tools
            ]
        if stream:
            body["stream"] = True
        return body

    @staticmethod
    def usage(u: dict[str, Any]) -> UsageTuple:
        read = u.get("cache_read_input_tokens") or 0
        write = u.get("cache_creation_input_tokens") or 0
        reasoning = (u.get("output_tokens_details") or {}).get("thinking_tokens", 0)
        return (u["input_tokens"] + read + write, u["output_tokens"], read, write, reasoning)

    def parse(self, data: dict[str, Any]) -> Outcome:
        text = "".join(b["text"] for b in data["content"] if b["type"] == "text")
        calls = [(b["name"], b["input"]) for b in data["content"] if b["type"] == "tool_use"]
        return Outcome(text, calls, self._FINISH[data["stop_reason"]], self.usage(data["usage"]))

    def parse_stream(self, raw: bytes) -> Outcome:
        out = Outcome()
        blocks: dict[int, list[Any]] = {}
        usage: dict[str, Any] = {}
        for name, data in _events(raw):
            if name == "message_start":
                usage = dict(data["message"]["usage"])
            elif name == "content_block_start":
                b = data["content_block"]
                blocks[data["index"]] = [b["type"], b.get("name"), ""]
            elif name == "content_block_delta":
                d = data["delta"]
                if d["type"] == "text_delta":
                    out.text += d["text"]
                elif d["type"] == "input_json_delta":
                    blocks[data["index"]][2] += d["partial_json"]
            elif name == "message_delta":
                usage.update({k: v for k, v in data["usage"].items() if v is not None})
                out.finish = self._FINISH[data["delta"]["stop_reason"]]
            elif name == "message_stop":
                out.ended = True
            elif name == "error":
                out.error = data["error"]["message"]
        out.calls = [(b[1], _args(b[2])) for _, b in sorted(blocks.items()) if b[0] == "tool_use"]
        out.usage = self.usage(usage) if usage else None
        return out

    @staticmethod
    def error_type(data: dict[str, Any]) -> str:
        assert data["type"] == "error" and data["error"]["message"]
        return str(data["error"]["type"])


class ResponsesClient:
    shape = "openai_responses"
    path = "/v1/responses"
    headers = {"authorization": "Bearer client-key"}

    def body(
        self,
        model: str,
        turns: list[Turn],
        system: str | None,
        tools: list[dict[str, Any]],
        stream: bool,
    ) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for t in turns:
            if t.role == "user":
                content: Any = t.text
                if t.image:
                    content = [
                        {"type": "input_text", "text": t.text},
                        {"type": "input_image", "image_url": t.image},
                    ]
                items.append({"role": "user", "content": content})
            elif t.role == "assistant":
                if t.text:
                    items.append(
                        {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": t.text}],
                        }
                    )
                items += [
                    {
                        "type": "function_call",
                        "call_id": i,
                        "name": n,
                        "arguments": orjson.dumps(a).decode(),
                    }
                    for i, n, a in t.calls
                ]
            else:
                items.append(
                    {"type": "function_call_output", "call_id": t.call_id, "output": t.text}
                )
        body: dict[str, Any] = {"model": model, "input": items, "max_output_tokens": 256}
        if system:
            body["instructions"] = system
        if tools:
            body["tools"] = [{"type": "function", **t} for t in tools]
        if stream:
            body["stream"] = True
        return body

    @staticmethod
    def usage(u: dict[str, Any] | None) -> UsageTuple | None:
        if not u:
            return None
        cached = (u.get("input_tokens_details") or {}).get("cached_tokens", 0)
        reasoning = (u.get("output_tokens_details") or {}).get("reasoning_tokens", 0)
        return (u["input_tokens"], u["output_tokens"], cached, 0, reasoning)

    def parse(self, data: dict[str, Any]) -> Outcome:
        text = "".join(
            p["text"] for o in data["output"] if o["type"] == "message" for p in o["content"]
        )
        calls = [
            (o["name"], _args(o["arguments"]))
            for o in data["output"]
            if o["type"] == "function_call"
        ]
        reason = (data.get("incomplete_details") or {}).get("reason")
        finish = "tool_calls" if calls else "stop"
        if data["status"] == "incomplete":
            finish = "content_filter" if reason == "content_filter" else "length"
        return Outcome(text, calls, finish, self.usage(data.get("usage")))

    def parse_stream(self, raw: bytes) -> Outcome:
        out = Outcome()
        for name, data in _events(raw):
            if name == "response.output_text.delta":
                out.text += data["delta"]
            elif name in ("response.completed", "response.incomplete"):
                final = self.parse(data["response"])
                out.calls, out.finish, out.usage = final.calls, final.finish, final.usage
                out.ended = True
            elif name in ("error", "response.failed"):
                out.error = data.get("message") or data["response"]["error"]["message"]
        return out

    @staticmethod
    def error_type(data: dict[str, Any]) -> str:
        assert data["error"]["message"]
        return str(data["error"]["type"])


Client = OpenAIChatClient | AnthropicClient | ResponsesClient
CLIENTS: dict[str, Client] = {
    c.shape: c for c in (OpenAIChatClient(), AnthropicClient(), ResponsesClient())
}


def call(
    url: str, client: Client, body: dict[str, Any]
) -> tuple[httpx.Response, Callable[[], Outcome]]:
    """POST a body; the response and a parser of it (stream or not)."""
    r = HTTP.post(url + client.path, json=body, headers=client.headers)
    if body.get("stream") and r.status_code == 200:
        return r, lambda: client.parse_stream(r.content)
    return r, lambda: client.parse(r.json())
