"""Tool calls held back in a stream until they are complete, so a policy can decide on each
whole call (name and parsed arguments) before the client sees any piece of it.

:class:`HeldCalls` keeps a stream's :class:`~plano.core.model.ToolCallDelta` events per
choice; :meth:`HeldCalls.calls` assembles the calls (the first piece carries the id and the
name, argument pieces concatenate in order); :meth:`HeldCalls.release` returns the pieces of
the calls that are kept, with ``tool_index`` renumbered 0, 1, ... so a client assembling
calls by index sees no gap. Pure.
"""

from __future__ import annotations

from collections.abc import Container

from plano.core.model import ToolCall, ToolCallDelta

__all__ = ["HeldCalls"]


class HeldCalls:
    __slots__ = ("_held",)

    def __init__(self) -> None:
        #: choice index -> tool index -> its pieces, in arrival order.
        self._held: dict[int, dict[int, list[ToolCallDelta]]] = {}

    def hold(self, ev: ToolCallDelta) -> None:
        self._held.setdefault(ev.index, {}).setdefault(ev.tool_index, []).append(ev)

    def choices(self) -> list[int]:
        return list(self._held)

    def __bool__(self) -> bool:
        return bool(self._held)

    def calls(self, choice: int) -> list[tuple[int, ToolCall]]:
        """``(tool index, call)`` of a choice's held calls, in the order they started."""
        out: list[tuple[int, ToolCall]] = []
        for tool_index, pieces in self._held.get(choice, {}).items():
            call_id = next((p.id for p in pieces if p.id), "")
            name = next((p.name for p in pieces if p.name), "")
            out.append((tool_index, ToolCall(call_id, name, "".join(p.arguments for p in pieces))))
        return out

    def release(self, choice: int, drop: Container[int] = ()) -> list[ToolCallDelta]:
        """The pieces of a choice's calls except those whose tool index is in ``drop``,
        renumbered; the choice is no longer held."""
        out: list[ToolCallDelta] = []
        number = 0
        for tool_index, pieces in self._held.pop(choice, {}).items():
            if tool_index in drop:
                continue
            for p in pieces:
                p.tool_index = number
            out += pieces
            number += 1
        return out
