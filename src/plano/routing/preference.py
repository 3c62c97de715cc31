"""Preference routing (Plano's ``routing_preferences``): a route chooser reads the conversation
and the route descriptions and names a route; ``selection_policy.prefer`` then orders that
route's models.

Two choosers:

* :class:`LLMRouteChooser` asks any configured model, through the gateway itself. The prompt is
  :func:`router_messages` (routes as JSON lines, the conversation in tags) and the answer must
  be ``{"route": "<name>"}`` (``"other"`` when nothing fits); :func:`parse_answer` also accepts
  a bare route name. The caller bounds it with a time limit and falls back to the default route.
* :class:`EmbeddingRouteChooser` needs no model server: ``wordllama`` (its weights ship in the
  wheel) embeds each route's name and description once, then each request's last user message;
  the most similar route wins if it clears ``min_similarity``.

The router keeps an embedding chooser behind the LLM one (``SmartRouter.backup``): when the
router model fails or times out, the embeddings decide, and the log says so once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from plano.core.model import Message, TextPart

__all__ = [
    "EmbeddingRouteChooser",
    "LLMRouteChooser",
    "Route",
    "RouteChooser",
    "conversation_text",
    "load_wordllama",
    "parse_answer",
    "router_messages",
]

log = logging.getLogger("plano.routing")

_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_NO_ROUTE = frozenset({"other", "none", "null", ""})


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    description: str
    models: tuple[str, ...]
    #: ``cheapest``, ``fastest`` or ``none``.
    prefer: str = "none"


class RouteChooser(Protocol):
    async def choose(self, messages: Sequence[Message], routes: Sequence[Route]) -> str | None:
        """The name of the route that fits the conversation, or ``None``."""
        ...


def conversation_text(messages: Sequence[Message], *, user_only: bool, max_chars: int) -> str:
    """The conversation as ``role: text`` lines, newest kept when it is too long."""
    lines: list[str] = []
    size = 0
    for m in reversed(messages):
        if m.role in ("system", "developer", "tool") or (user_only and m.role != "user"):
            continue
        text = m.text().strip()
        if not text:
            continue
        line = f"{m.role}: {text}"
        if size + len(line) > max_chars:
            if not lines:  # always keep (the end of) the latest turn
                lines.append(f"{m.role}: …{text[-(max_chars - len(m.role) - 3) :]}")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(reversed(lines))


_SYSTEM = (
    "You are a router. Read the conversation and pick the route that best describes what the "
    "user wants in their latest message.\n<routes>\n{routes}\n</routes>\n"
    'Answer with JSON only, no other text: {{"route": "<route name>"}}. '
    'If no route fits, answer {{"route": "other"}}.'
)


def router_messages(routes: Sequence[Route], conversation: str) -> list[Message]:
    lines = "\n".join(
        orjson.dumps({"name": r.name, "description": r.description}).decode() for r in routes
    )
    return [
        Message("system", [TextPart(_SYSTEM.format(routes=lines))]),
        Message("user", [TextPart(f"<conversation>\n{conversation}\n</conversation>")]),
    ]


def parse_answer(text: str, routes: Sequence[Route]) -> str | None:
    """The route named by a router model's answer; ``None`` for "other" or nonsense."""
    by_name = {r.name.strip().lower(): r.name for r in routes}
    candidate: Any = None
    for match in _JSON_OBJECT.finditer(text):
        try:
            data = orjson.loads(match.group(0))
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict) and "route" in data:
            candidate = data["route"]
            break
    if candidate is None:
        candidate = text.strip().strip("`'\".").strip()
    if not isinstance(candidate, str) or candidate.strip().lower() in _NO_ROUTE:
        return None
    return by_name.get(candidate.strip().lower())


class LLMRouteChooser:
    """Asks a model. ``complete`` sends messages to the router model and returns its text; the
    gateway binds it after start-up (it calls back into the gateway's own upstream path)."""

    def __init__(
        self,
        model: str,
        *,
        user_only: bool = False,
        max_chars: int = 4000,
        complete: Callable[[str, list[Message]], Awaitable[str]] | None = None,
    ) -> None:
        self.model = model
        self.user_only = user_only
        self.max_chars = max_chars
        self.complete = complete

    async def choose(self, messages: Sequence[Message], routes: Sequence[Route]) -> str | None:
        if self.complete is None:
            raise RuntimeError("the LLM router is not bound to a gateway")
        text = conversation_text(messages, user_only=self.user_only, max_chars=self.max_chars)
        if not text:
            return None
        answer = await self.complete(self.model, router_messages(routes, text))
        return parse_answer(answer, routes)


def load_wordllama() -> Any:
    """wordllama's bundled model, offline. Its ``load()`` looks for the tokenizer in the wrong
    folder and then tries the network, so its own package directory is passed as the cache
    and downloads are off. Blocking (~0.3 s): run it in a thread."""
    import wordllama

    package = Path(wordllama.__file__).parent
    return wordllama.WordLlama.load(cache_dir=package, disable_download=True)


class EmbeddingRouteChooser:
    """Nearest route by embedding similarity. Until :meth:`load` has run (in a thread at
    start-up), it answers ``None`` so requests take the default route instead of waiting."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        min_similarity: float = 0.2,
        loader: Callable[[], Any] = load_wordllama,
    ) -> None:
        self.routes = list(routes)
        self.min_similarity = min_similarity
        self._loader = loader
        self._model: Any = None
        self._matrix: Any = None

    @property
    def loaded(self) -> bool:
        return self._matrix is not None

    def load(self) -> None:
        model = self._loader()
        texts = [f"{r.name}: {r.description}" for r in self.routes]
        self._matrix = model.embed(texts, norm=True)
        self._model = model

    def scores(self, query: str) -> list[tuple[float, str]]:
        """(similarity, route name) for every route, best first."""
        vec = self._model.embed([query], norm=True)[0]
        sims = self._matrix @ vec
        return sorted(
            ((float(s), r.name) for s, r in zip(sims, self.routes, strict=True)), reverse=True
        )

    async def choose(self, messages: Sequence[Message], routes: Sequence[Route]) -> str | None:
        if not self.loaded:
            return None
        query = next((m.text() for m in reversed(messages) if m.role == "user"), "").strip()
        if not query:
            return None
        best, name = self.scores(query[-2000:])[0]
        return name if best >= self.min_similarity else None
