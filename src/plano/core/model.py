"""The canonical request, response and stream-event model.

Every client wire shape (OpenAI chat, Anthropic messages, OpenAI Responses) converts to and from
these values, and every upstream family does the same, so translation code grows with shapes,
not with shape pairs. Plain slotted dataclasses: cheap to build on the hot path, no validation
here (wire parsers validate as they build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "FinishReason",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "StreamEnd",
    "StreamError",
    "StreamEvent",
    "StreamStart",
    "TextDelta",
    "TextPart",
    "TextSize",
    "ThinkingDelta",
    "ThinkingPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "UsageEvent",
    "text_size",
]

Role: TypeAlias = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class Usage:
    """Token usage. ``input_tokens`` includes cached reads and cache writes (OpenAI's convention
    and genai-prices'); ``output_tokens`` includes reasoning tokens. ``cache_write_1h_tokens``
    is the part of ``cache_write_tokens`` written with a one-hour lifetime (priced higher).

    A usage may be partial: a stream cut after Anthropic's ``message_start`` knows its input
    side but not its output. ``has_input`` / ``has_output`` say which sides were reported, so
    accounting estimates only what is missing.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: True when Plano counted some of the tokens itself because the provider reported none.
    estimated: bool = False
    cache_write_1h_tokens: int = 0
    has_input: bool = True
    has_output: bool = True

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def complete(self) -> bool:
        return self.has_input and self.has_output


@dataclass(slots=True)
class TextPart:
    text: str
    #: Anthropic prompt-cache marker, kept verbatim across translations.
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ImagePart:
    #: ``https://...`` or ``data:<media>;base64,<data>``.
    url: str
    detail: str | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ThinkingPart:
    text: str
    signature: str | None = None
    #: Anthropic ``redacted_thinking`` data, passed through untouched.
    redacted: str | None = None


Part: TypeAlias = TextPart | ImagePart | ThinkingPart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    #: JSON text, as the models produce it; parsed only where a wire shape needs an object.
    arguments: str


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: For ``role == "tool"``: the call this message answers.
    tool_call_id: str | None = None
    name: str | None = None
    #: True when a tool result reports an error (Anthropic ``is_error``).
    is_error: bool = False

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    cache_control: dict[str, Any] | None = None


#: ``"auto" | "none" | "required"`` or the name of one tool that must be called.
ToolChoice: TypeAlias = str | dict[str, str]


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    #: OpenAI ``response_format`` (JSON mode / schema), verbatim.
    response_format: dict[str, Any] | None = None
    #: The client asked for usage in the stream (OpenAI ``stream_options.include_usage``).
    include_usage: bool = False
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: Anthropic extended thinking settings, verbatim.
    thinking: dict[str, Any] | None = None
    #: Parameters no canonical field covers; passed on to upstreams of the same family.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Which client shape this came from (``openai_chat``, ``anthropic_messages``, ...).
    shape: str = "openai_chat"
    #: The client's original body; lets a same-family upstream forward it untouched.
    raw: dict[str, Any] | None = None
    #: :func:`text_size` of this request, once computed (reset it when editing messages).
    size: TextSize | None = None
    #: The exact bytes ``raw`` was parsed from: sent as they are to a same-family upstream
    #: that needs no change (no re-serialization of a 178 KB prompt). Whoever replaces or
    #: edits ``raw`` sets this to ``None``.
    raw_body: bytes | None = None
    #: Client content the canonical model cannot carry (e.g. ``"document block"``). Only an
    #: upstream of the client's own family, which gets ``raw``, can serve such a request.
    opaque: list[str] = field(default_factory=list)
    #: The id the client will see for the answer when Plano assigns one (stateful shapes such as
    #: OpenAI Responses store answers under it); ``None`` lets renderers derive one.
    answer_id: str | None = None

    def changed(self) -> None:
        """Say that something rewrote this request (a filter): the client's original body no
        longer describes it, so every upstream gets the canonical request encoded anew."""
        self.raw = None
        self.raw_body = None
        self.size = None

    @property
    def has_images(self) -> bool:
        return any(isinstance(p, ImagePart) for m in self.messages for p in m.content)

    @property
    def system_text(self) -> str:
        return "\n".join(m.text() for m in self.messages if m.role in ("system", "developer"))


@dataclass(frozen=True, slots=True)
class TextSize:
    """How much text a request holds, measured without a tokenizer: what token bounds are
    built from (one pass over the parts; ``isascii`` is O(1) on CPython strings)."""

    #: Characters known to be ASCII.
    ascii_chars: int
    #: UTF-8 bytes of the rest (non-ASCII text, schemas' allowance).
    other_bytes: int
    images: int
    messages: int


def text_size(req: ChatRequest) -> TextSize:
    """The request's :class:`TextSize`, computed once and kept on the request."""
    if req.size is None:
        req.size = _measure(req)
    return req.size


def _measure(req: ChatRequest) -> TextSize:
    ascii_chars = images = other = 0
    mixed: list[str] = []  # rare: text with non-ASCII characters, measured below
    for m in req.messages:
        for p in m.content:
            kind = type(p)
            if kind is TextPart or kind is ThinkingPart:
                text = p.text  # type: ignore[union-attr]
                if text.isascii():
                    ascii_chars += len(text)
                else:
                    mixed.append(text)
            else:
                images += 1
        for c in m.tool_calls:
            mixed += (c.name, c.arguments)
    for t in req.tools:
        mixed += (t.name, t.description or "")
        other += 16 * len(t.parameters)  # a schema's text is not kept; a rough allowance
    for text in mixed:
        if text.isascii():
            ascii_chars += len(text)
            continue
        # Every non-ASCII character takes 2+ bytes, so at least 2 * chars - bytes of the
        # characters are ASCII (and keep the ASCII ratio).
        n, b = len(text), len(text.encode("utf-8", "surrogatepass"))
        least_ascii = max(0, 2 * n - b)
        ascii_chars += least_ascii
        other += b - least_ascii
    return TextSize(ascii_chars, other, images, len(req.messages))


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = 0
    #: The upstream's original body, when it was parsed from the client's own family.
    raw: dict[str, Any] | None = None

    def changed(self) -> None:
        """Say that something rewrote this answer: the client gets it rendered anew rather
        than the provider's bytes."""
        self.raw = None


# ---- stream events: what every upstream stream parser emits and every renderer consumes ----


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str


@dataclass(slots=True)
class TextDelta:
    text: str
    index: int = 0


@dataclass(slots=True)
class ThinkingDelta:
    text: str = ""
    signature: str | None = None
    index: int = 0


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a tool call. The first piece of a call carries ``id`` and ``name``;
    ``arguments`` pieces are concatenated in order by ``tool_index``."""

    tool_index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    index: int = 0


@dataclass(slots=True)
class StreamEnd:
    finish_reason: FinishReason
    index: int = 0


@dataclass(slots=True)
class UsageEvent:
    usage: Usage


@dataclass(slots=True)
class StreamError:
    """The stream failed after it started; renderers emit it as the client's error event."""

    message: str
    status: int = 502
    error_type: str = "api_error"


StreamEvent: TypeAlias = (
    StreamStart | TextDelta | ThinkingDelta | ToolCallDelta | StreamEnd | UsageEvent | StreamError
)
