"""Rendered non-stream bodies, reused for identical requests (pure, no IO).

A benchmark sends the same body thousands of times, and the answer depends only on the body,
the path and the options, so parsing, composing and rendering run once per distinct request.
Only the id (sequence number) and the ``created`` timestamp change between responses: the body
is rendered once with sentinel values in their place and split there; :meth:`Template.fill`
joins the parts around the real values.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CREATED_SENTINEL", "SEQ_SENTINEL", "ResponseCache", "Template", "cacheable"]

SEQ_SENTINEL: Final = 918_273_645_546_372_819
CREATED_SENTINEL: Final = 1_928_374_655
_SEQ: Final = str(SEQ_SENTINEL).encode()
_CREATED: Final = str(CREATED_SENTINEL).encode()
_ID_THEN_CREATED: Final = (True, False)


class Template:
    """A body with holes for the sequence number and the creation time."""

    __slots__ = ("_parts", "_slots", "prompt_tokens")

    def __init__(self, body: bytes, prompt_tokens: int) -> None:
        parts: list[bytes] = []
        slots: list[bool] = []  # True: sequence number, False: created
        for i, chunk in enumerate(body.split(_SEQ)):
            if i:
                slots.append(True)
            for j, piece in enumerate(chunk.split(_CREATED)):
                if j:
                    slots.append(False)
                parts.append(piece)
        self._parts = tuple(parts)
        self._slots = tuple(slots)
        self.prompt_tokens = prompt_tokens

    def fill(self, seq: int, created: int) -> bytes:
        parts, slots = self._parts, self._slots
        seq_b, created_b = b"%d" % seq, b"%d" % created
        if slots == _ID_THEN_CREATED:  # the usual shape: one id, then one timestamp
            return b"".join((parts[0], seq_b, parts[1], created_b, parts[2]))
        out = [parts[0]]
        for part, is_seq in zip(parts[1:], slots, strict=True):
            out.append(seq_b if is_seq else created_b)
            out.append(part)
        return b"".join(out)


def cacheable(raw: bytes) -> bool:
    """A body that contains a sentinel would be split in the wrong places."""
    return _SEQ not in raw and _CREATED not in raw


class ResponseCache:
    """Templates keyed by (path, raw request body); emptied when full or when options change."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 1024) -> None:
        self._entries: dict[tuple[str, bytes], Template] = {}
        self._limit = limit

    def get(self, key: tuple[str, bytes]) -> Template | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, bytes], template: Template) -> None:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = template

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
