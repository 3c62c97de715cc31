"""What an analysis reads: a bounded copy of one conversation, taken from the canonical model.

:func:`transcript` keeps the last ``max_messages`` messages, at most ``max_chars`` of each
text (its head and, mostly, its tail: frustration and errors tend to sit at the end) and at
most ``max_tool_calls`` tool calls, so the work that follows is bounded whatever the request's
size. Taking it is cheap (slices, no scanning); the analysis runs later, off the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from plano.core.model import ChatRequest, ChatResponse, Message, TextPart

__all__ = ["Limits", "Transcript", "Turn", "TurnRole", "transcript"]

#: ``tool_call``: one call an assistant message made (a message with three calls gives three
#: turns after its text); ``tool``: a tool's result.
TurnRole: TypeAlias = Literal["user", "assistant", "tool_call", "tool"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_messages: int = 100
    max_chars: int = 2000
    max_tool_calls: int = 200


@dataclass(frozen=True, slots=True)
class Turn:
    role: TurnRole
    #: Index of the message in the request's ``messages`` (the answer: one past the last).
    index: int
    #: The text (``tool_call``: the arguments), bounded.
    text: str
    #: The tool's name (``tool_call``).
    name: str = ""
    #: A tool result that says it failed (Anthropic ``is_error``).
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Transcript:
    turns: tuple[Turn, ...]
    #: Messages the conversation had (the answer included), before the bounds.
    messages: int
    #: Tool names the request declared (``None``: none declared, so none can be unknown).
    tools: frozenset[str] | None = None
    truncated: bool = False


def transcript(
    request: ChatRequest,
    answer: Message | ChatResponse | None = None,
    limits: Limits = Limits(),  # frozen: sharing the default is safe
) -> Transcript:
    """The bounded conversation of ``request`` followed by ``answer`` (the first choice's
    message of a response). System and developer messages are skipped."""
    messages: Sequence[Message] = request.messages
    if isinstance(answer, ChatResponse):
        answer = answer.choices[0].message if answer.choices else None
    total = len(messages) + (answer is not None)
    first = max(0, total - limits.max_messages)
    truncated = first > 0
    turns: list[Turn] = []
    calls = 0
    for index in range(first, total):
        m = messages[index] if index < len(messages) else answer
        assert m is not None
        role = m.role
        if role == "system" or role == "developer":
            continue
        text, cut = _bounded_text(m, limits.max_chars)
        truncated |= cut
        if role == "tool":
            turns.append(Turn("tool", index, text, m.name or "", m.is_error))
            continue
        if text:
            turns.append(Turn("user" if role == "user" else "assistant", index, text))
        for call in m.tool_calls:
            if calls >= limits.max_tool_calls:
                truncated = True
                break
            calls += 1
            args = call.arguments
            if len(args) > limits.max_chars:
                args, truncated = args[: limits.max_chars], True
            turns.append(Turn("tool_call", index, args, call.name[:200]))
    tools = frozenset(t.name for t in request.tools) if request.tools else None
    return Transcript(tuple(turns), total, tools, truncated)


def _bounded_text(m: Message, cap: int) -> tuple[str, bool]:
    texts = [p.text for p in m.content if type(p) is TextPart]
    size = sum(map(len, texts))
    if size <= cap:
        return "".join(texts), False
    head_room = cap // 5
    tail_room = cap - head_room - 1
    head: list[str] = []
    for t in texts:
        if head_room <= 0:
            break
        head.append(t[:head_room])
        head_room -= len(head[-1])
    tail: list[str] = []
    for t in reversed(texts):
        if tail_room <= 0:
            break
        tail.append(t[-tail_room:])
        tail_room -= len(tail[-1])
    return "".join(head) + " " + "".join(reversed(tail)), True
