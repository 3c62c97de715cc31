"""The capability matrix: what every (client shape, upstream family) pair carries, and the few
things a pair cannot carry, as data.

Every pair supports every capability in :data:`CAPABILITIES`; the conformance tests run each
one against each pair. What a translation cannot carry is listed in :data:`LIMITS` with the
reason, and :func:`check` turns it into a 400 (:class:`~plano.errors.UnsupportedCapability`)
before anything is sent, never a silently different answer. A same-family pair forwards the
client's own body, so none of the limits apply to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from plano.core.model import ChatRequest, ImagePart
from plano.errors import UnsupportedCapability

__all__ = [
    "CAPABILITIES",
    "CLIENT_SHAPES",
    "EXPRESSED_BY",
    "FAMILIES",
    "LIMITS",
    "check",
    "features",
    "matrix",
]

#: Capabilities every pair supports (and the conformance matrix proves).
CAPABILITIES: tuple[str, ...] = (
    "text",
    "system",
    "multi_turn",
    "tools",
    "tool_results",
    "parallel_tool_calls",
    "images",
    "stream",
    "stream_tools",
    "usage",
    "errors",
)
#: Client shape -> the upstream family that speaks it natively.
CLIENT_SHAPES: dict[str, str] = {
    "openai_chat": "openai",
    "anthropic_messages": "anthropic",
    "openai_responses": "openai_responses",
}
FAMILIES: tuple[str, ...] = ("openai", "anthropic", "gemini", "openai_responses")

#: feature -> upstream family -> why that family cannot receive it from another shape.
LIMITS: Mapping[str, Mapping[str, str]] = {
    "image_url": {
        "gemini": "Gemini fetches no image URLs; send the image inline as a base64 data URL",
    },
    "tool_result_images": {
        "openai": "OpenAI chat tool messages carry text only",
        "gemini": "Gemini function responses carry JSON only",
    },
    "json_mode": {
        "anthropic": "Anthropic Messages has no response_format (JSON mode); ask for JSON in "
        "the prompt or use a forced tool",
    },
    "stop_sequences": {
        "openai_responses": "the Responses API has no stop sequences",
    },
    "multiple_choices": {
        f: "only OpenAI chat completions return several choices (n > 1)"
        for f in ("anthropic", "gemini", "openai_responses")
    },
    "logprobs": {
        f: "only OpenAI chat completions return logprobs"
        for f in ("anthropic", "gemini", "openai_responses")
    },
    "audio": {
        f: "only OpenAI chat completions produce audio"
        for f in ("anthropic", "gemini", "openai_responses")
    },
}


#: feature -> the client shapes that can ask for it at all (the others show "n/a").
EXPRESSED_BY: Mapping[str, tuple[str, ...]] = {
    "image_url": tuple(CLIENT_SHAPES),
    "tool_result_images": ("anthropic_messages", "openai_responses"),
    "json_mode": ("openai_chat", "openai_responses"),
    "stop_sequences": ("openai_chat", "anthropic_messages"),
    "multiple_choices": ("openai_chat",),
    "logprobs": ("openai_chat",),
    "audio": ("openai_chat",),
}


def _images(req: ChatRequest, test: Callable[[str, ImagePart], bool]) -> bool:
    return any(test(m.role, p) for m in req.messages for p in m.content if isinstance(p, ImagePart))


def features(req: ChatRequest) -> set[str]:
    """The :data:`LIMITS` features a request uses."""
    found: set[str] = set()
    if _images(req, lambda _role, p: not p.url.startswith("data:")):
        found.add("image_url")
    if _images(req, lambda role, _p: role == "tool"):
        found.add("tool_result_images")
    if (req.response_format or {}).get("type") in ("json_object", "json_schema"):
        found.add("json_mode")
    if req.stop:
        found.add("stop_sequences")
    n = req.extra.get("n")
    if isinstance(n, int) and n > 1:
        found.add("multiple_choices")
    if req.extra.get("logprobs") or req.extra.get("top_logprobs"):
        found.add("logprobs")
    if req.extra.get("audio") or "audio" in (req.extra.get("modalities") or ()):
        found.add("audio")
    return found


def check(req: ChatRequest, shape_family: str, family: str) -> None:
    """Raise :class:`UnsupportedCapability` when ``family`` cannot serve ``req`` as asked."""
    if family == shape_family:
        if req.opaque and req.raw is None:
            # Rewritten by a filter: the content only the client's own bytes carried would be
            # lost in the new encoding; refusing beats silently sending less (or the original).
            kinds = ", ".join(sorted(set(req.opaque)))
            raise UnsupportedCapability(
                f"A filter rewrote this request, and it carries {kinds}, which Plano cannot "
                "encode again; the request was not sent.",
                code="unsupported_capability",
            )
        return
    where = f"this request ({req.shape}) cannot go to a '{family}' upstream"
    if req.opaque:
        kinds = ", ".join(sorted(set(req.opaque)))
        raise UnsupportedCapability(
            f"{where}: it carries {kinds}, which only a '{shape_family}' upstream understands.",
            code="unsupported_capability",
        )
    for feature in sorted(features(req)):
        reason = LIMITS[feature].get(family)
        if reason is not None:
            raise UnsupportedCapability(f"{where}: {reason}.", code="unsupported_capability")


def matrix() -> dict[tuple[str, str], dict[str, str]]:
    """(client shape, family) -> capability or limited feature -> ``"yes"``, ``"n/a"`` (the
    shape cannot ask for it) or the reason it is not supported. The docs' table is rendered
    from this."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for shape, native in CLIENT_SHAPES.items():
        for family in FAMILIES:
            row = dict.fromkeys(CAPABILITIES, "yes")
            for feature, limits in LIMITS.items():
                if shape not in EXPRESSED_BY[feature]:
                    row[feature] = "n/a"
                else:
                    row[feature] = "yes" if family == native else limits.get(family, "yes")
            out[(shape, family)] = row
    return out
