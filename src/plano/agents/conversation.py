"""The messages each agent gets, and how several answers become one (pure).

* Sequence (Plano's ``execute_agent_chain``): every agent but the last answers in full; its
  answer goes in as ``{"role": "assistant", "name": <agent id>, ...}`` just before the last user
  message, and the next agent is called with that conversation.
* Parallel (ours): every agent gets the same conversation; the answers are merged by
  concatenation (each under its agent's id) or by a summarizer model (:func:`summary_messages`).
* Sessions (ours): a client that sends only the new turn gets the stored conversation in front
  of it (:func:`with_history`).
"""

from __future__ import annotations

from collections.abc import Sequence

from plano.core.model import Message, TextPart

__all__ = [
    "concat_answers",
    "summary_messages",
    "with_earlier_answers",
    "with_history",
]


def with_earlier_answers(
    messages: Sequence[Message], answers: Sequence[tuple[str, str]]
) -> list[Message]:
    """``messages`` with each ``(agent id, answer)`` inserted as a named assistant message
    before the last user message (at the end when there is no user message)."""
    out = list(messages)
    if not answers:
        return out
    at = next((i for i in range(len(out) - 1, -1, -1) if out[i].role == "user"), len(out))
    inserted = [Message("assistant", [TextPart(text)], name=agent) for agent, text in answers]
    return out[:at] + inserted + out[at:]


def concat_answers(answers: Sequence[tuple[str, str]]) -> str:
    """Parallel answers as one text: each under its agent's id, in the configured order."""
    if len(answers) == 1:
        return answers[0][1]
    return "\n\n".join(f"[{agent}]\n{text.strip()}" for agent, text in answers)


_SUMMARY = (
    "Several specialist agents answered the user's latest message. Write one answer to the "
    "user that combines what they said: keep every fact, drop repetition, do not mention the "
    "agents."
)


def summary_messages(
    messages: Sequence[Message], answers: Sequence[tuple[str, str]]
) -> list[Message]:
    """What the summarizer model gets: the instruction, the user's last message, the answers."""
    question = next((m.text() for m in reversed(messages) if m.role == "user"), "")
    parts = "\n\n".join(f"<answer agent={agent!r}>\n{text}\n</answer>" for agent, text in answers)
    return [
        Message("system", [TextPart(_SUMMARY)]),
        Message("user", [TextPart(f"<question>\n{question}\n</question>\n\n{parts}")]),
    ]


def with_history(history: Sequence[Message], messages: Sequence[Message]) -> list[Message]:
    """The conversation an agent gets when a session holds ``history``: the client's own
    messages when it sent the whole conversation (any assistant turn in them), else its system
    messages, the history, then its new messages."""
    if not history or any(m.role == "assistant" for m in messages):
        return list(messages)
    system = [m for m in messages if m.role in ("system", "developer")]
    rest = [m for m in messages if m.role not in ("system", "developer")]
    return system + [m for m in history if m.role not in ("system", "developer")] + rest
