"""The simulators' canonical model and deterministic answer generation (pure, no IO).

Each wire module parses its request into a :class:`Prompt`; :func:`compose` turns a prompt into an
:class:`Answer` (text pieces, optional thinking, tool calls, finish reason, usage); the wire module
renders the answer in its own shape. The same prompt and knobs always give the same answer, so
tests can assert on exact text and token counts.

One *piece* is one simulated token: a word with its leading space. ``usage`` counts pieces, so the
number of streamed content deltas equals the reported output tokens.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol

import orjson

__all__ = [
    "Answer",
    "BadRequest",
    "ErrorKind",
    "Finish",
    "Knobs",
    "Meta",
    "Prompt",
    "ToolCallOut",
    "ToolMode",
    "ToolSpec",
    "Usage",
    "WireShape",
    "compose",
    "count_prompt",
    "estimate_tokens",
    "signature_for",
    "split_text",
    "text_of",
    "tool_arguments",
]

Finish = Literal["stop", "length", "tool_calls"]
ToolMode = Literal["auto", "none", "required"]
#: Provider-neutral error kinds; each wire module maps them to its own type/code/status names.
ErrorKind = Literal[
    "bad_request",
    "context_length",
    "auth",
    "permission",
    "not_found",
    "rate_limit",
    "server",
    "unavailable",
]

#: Words that make the simulator call a tool when the request declares tools.
_TOOL_TRIGGERS = ("weather", "tool", "both")
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
#: Thinking pieces when the client asks to see thinking and no ``reasoning_tokens`` is set.
DEFAULT_THINKING_TOKENS = 12
#: Characters per streamed slice of tool-call arguments.
ARGUMENT_SLICE = 8


class BadRequest(Exception):
    """The request body is not valid for its wire shape (answered as a 400 in that shape)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    #: The tool's JSON schema for its arguments, if it declared one.
    parameters: Mapping[str, Any] | None = None


@dataclass(slots=True)
class Prompt:
    """What the simulator needs from a request, whatever its wire shape."""

    model: str
    user_text: str = ""
    #: Text of the trailing tool result, when the last message is one.
    tool_result: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_mode: ToolMode = "auto"
    forced_tool: str | None = None
    parallel_tools: bool = True
    max_tokens: int | None = None
    prompt_tokens: int = 0
    stream: bool = False
    #: OpenAI ``stream_options.include_usage``.
    include_usage: bool = False
    #: The client asked to see thinking (Anthropic ``thinking``, Gemini ``includeThoughts``).
    thinking: bool = False
    #: Gemini ``streamGenerateContent`` without ``alt=sse``: a JSON array instead of SSE.
    array_stream: bool = False
    #: Request values a shape echoes in its response (the Responses API does).
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Knobs:
    """Generation settings taken from the simulator options."""

    label: str
    output_tokens: int = 16
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    #: Shape-neutral id; wire modules prefix it (``call_``, ``toolu_``).
    key: str
    name: str
    args: dict[str, Any]
    #: ``args`` as compact JSON, the form streamed in slices.
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    #: Visible output pieces plus tool-call tokens; excludes reasoning.
    output_tokens: int
    reasoning_tokens: int = 0
    #: Part of ``prompt_tokens`` read from the cache.
    cached_tokens: int = 0
    #: Part of ``prompt_tokens`` written to the cache (Anthropic only).
    cache_write_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        return self.output_tokens + self.reasoning_tokens


@dataclass(frozen=True, slots=True)
class Answer:
    pieces: tuple[str, ...]
    finish: Finish
    usage: Usage
    thinking: tuple[str, ...] = ()
    tool_calls: tuple[ToolCallOut, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)


@dataclass(frozen=True, slots=True)
class Meta:
    """Per-response values the server chooses: ids, timestamps, the provider label."""

    seq: int
    created: int
    model: str
    label: str

    def ident(self, prefix: str) -> str:
        return f"{prefix}{self.label}-{self.seq}"


class WireShape(Protocol):
    """One provider wire format. The server does IO; a shape only converts values."""

    #: Provider label used in text and ids when the options do not name one.
    provider: str

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], require_auth: bool
    ) -> tuple[ErrorKind, str] | None:
        """An error (kind, message) when the request's headers are not acceptable."""
        ...

    def parse(self, body: Any, model_hint: str, query: Mapping[str, str]) -> Prompt:
        """The prompt of a parsed JSON body; raises :class:`BadRequest`."""
        ...

    def render(self, answer: Answer, meta: Meta, prompt: Prompt) -> bytes:
        """The non-stream response body."""
        ...

    def stream(self, answer: Answer, meta: Meta, prompt: Prompt) -> list[bytes]:
        """The stream body as framed events, terminator included."""
        ...

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """An error body in the provider's shape."""
        ...


# ---------------------------------------------------------------- helpers


def estimate_tokens(text: str) -> int:
    """A cheap, deterministic token estimate (about four characters per token)."""
    return len(text) // 4


def text_of(content: Any, part_key: str = "text") -> str:
    """The text of a message ``content``: a string, or a list of parts carrying ``part_key``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p[part_key] for p in content if isinstance(p, dict) and part_key in p]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


def split_text(text: str, size: int = ARGUMENT_SLICE) -> list[str]:
    """``text`` in slices of ``size`` characters (at least one slice, possibly empty)."""
    if not text:
        return [""]
    return [text[i : i + size] for i in range(0, len(text), size)]


def signature_for(text: str) -> str:
    """A deterministic stand-in for a thinking block's signature."""
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


_SAMPLE_BY_TYPE: dict[str, Any] = {
    "string": "Paris",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _sample(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return "Paris"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return _SAMPLE_BY_TYPE.get(str(kind).lower(), "Paris")


def tool_arguments(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Arguments for a tool: its schema's first property plus any other required ones."""
    props = parameters.get("properties") if parameters else None
    if not isinstance(props, Mapping) or not props:
        return {}
    names = [next(iter(props))]
    required = parameters.get("required") if parameters else None
    if isinstance(required, list):
        names += [n for n in required if n in props and n not in names]
    return {n: _sample(props[n]) for n in names}


# ---------------------------------------------------------------- composing answers


@lru_cache(maxsize=4096)
def _pieces(head: str, source: str, count: int) -> tuple[str, ...]:
    words = head.split()
    if len(words) < count:
        body = source.split(None, count)[:count] or _FILLER
        words += [body[i % len(body)] for i in range(count - len(words))]
    words = words[:count]
    return tuple(w if i == 0 else " " + w for i, w in enumerate(words))


def _wants_tools(prompt: Prompt) -> bool:
    if not prompt.tools or prompt.tool_mode == "none" or prompt.tool_result is not None:
        return False
    if prompt.tool_mode == "required" or prompt.forced_tool is not None:
        return True
    text = prompt.user_text.lower()
    return any(word in text for word in _TOOL_TRIGGERS)


def _chosen_tools(prompt: Prompt) -> list[ToolSpec]:
    if prompt.forced_tool is not None:
        found = [t for t in prompt.tools if t.name == prompt.forced_tool]
        return found or [ToolSpec(prompt.forced_tool)]
    both = prompt.parallel_tools and "both" in prompt.user_text.lower()
    return list(prompt.tools[: 2 if both else 1])


def _tool_calls(prompt: Prompt, seq: int) -> tuple[ToolCallOut, ...]:
    calls = []
    for i, tool in enumerate(_chosen_tools(prompt)):
        args = tool_arguments(tool.parameters)
        arguments = orjson.dumps(args).decode()
        calls.append(ToolCallOut(f"{seq}_{i}", tool.name, args, arguments))
    return tuple(calls)


def _cache_counts(prompt_tokens: int, knobs: Knobs) -> tuple[int, int]:
    cached = min(knobs.cached_tokens, prompt_tokens)
    written = min(knobs.cache_write_tokens, prompt_tokens - cached)
    return cached, written


def compose(prompt: Prompt, knobs: Knobs, seq: int) -> Answer:
    """The deterministic answer to ``prompt``; ``seq`` only feeds tool-call ids."""
    cached, written = _cache_counts(prompt.prompt_tokens, knobs)
    reasoning = knobs.reasoning_tokens
    thinking: tuple[str, ...] = ()
    if prompt.thinking:
        reasoning = reasoning or DEFAULT_THINKING_TOKENS
        thinking = _pieces("Thinking about:", prompt.user_text, reasoning)
    if _wants_tools(prompt):
        calls = _tool_calls(prompt, seq)
        out = sum(estimate_tokens(c.arguments) + 4 for c in calls)
        usage = Usage(prompt.prompt_tokens, out, reasoning, cached, written)
        return Answer((), "tool_calls", usage, thinking, calls)
    count = knobs.output_tokens
    finish: Finish = "stop"
    if prompt.max_tokens is not None and prompt.max_tokens < count:
        count, finish = max(prompt.max_tokens, 0), "length"
    head = f"Simulated reply from {knobs.label} {prompt.model}:"
    if prompt.tool_result is not None:
        head += " the tool returned"
        source = prompt.tool_result
    else:
        source = prompt.user_text
    pieces = _pieces(head, source, count)
    usage = Usage(prompt.prompt_tokens, len(pieces), reasoning, cached, written)
    return Answer(pieces, finish, usage, thinking)


def count_prompt(texts: Sequence[str], tools: Sequence[ToolSpec] = ()) -> int:
    """Prompt tokens: the estimate of each message plus four, plus a little per tool."""
    total = sum(estimate_tokens(t) + 4 for t in texts)
    return total + sum(8 + estimate_tokens(t.name) for t in tools)
