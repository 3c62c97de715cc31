"""What each deployment can serve: context window, output limit, tools, images, JSON mode.

Three layers, later ones winning field by field: a small built-in table of known limits,
the context window from the offline ``genai-prices`` catalogue, and the config's
``model_capabilities`` (keys: a deployment name, ``provider/model``, a bare model id, or a glob).
Unknown features count as supported: filtering only skips what is known not to work.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from plano.config.routing import ModelCapability
from plano.providers.deployment import Deployment
from plano.routing.rules import RequestFacts

__all__ = ["BUILTIN", "Capabilities", "CapabilityTable", "cannot_serve"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    context_window: int | None = None
    max_output_tokens: int | None = None
    tools: bool = True
    vision: bool = True
    json_mode: bool = True


#: Known limits, by model-id glob (first match wins). Extend or override in config.
BUILTIN: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("o1-mini*", {"tools": False, "vision": False, "json_mode": False}),
    ("o1-preview*", {"tools": False, "vision": False, "json_mode": False}),
    ("o3-mini*", {"vision": False}),
    ("gpt-3.5*", {"vision": False}),
    ("gpt-4", {"vision": False}),
    ("gpt-4-0613", {"vision": False}),
    ("deepseek-chat", {"vision": False}),
    ("deepseek-reasoner", {"vision": False}),
    ("*llama-3.1-*", {"vision": False}),
    ("*llama-3.3-*", {"vision": False}),
    ("*embedding*", {"tools": False, "vision": False, "json_mode": False}),
)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    base.update({k: v for k, v in extra.items() if v is not None})


class CapabilityTable:
    """Capabilities per deployment, resolved once per deployment name and cached."""

    def __init__(
        self,
        config: Mapping[str, ModelCapability] | None = None,
        context_window: Callable[[str, str], int | None] | None = None,
    ) -> None:
        self._exact: dict[str, dict[str, Any]] = {}
        self._globs: list[tuple[str, dict[str, Any]]] = []
        for key, cap in (config or {}).items():
            fields = cap.model_dump(exclude_none=True)
            if "*" in key or "?" in key:
                self._globs.append((key, fields))
            else:
                self._exact[key] = fields
        self._window = context_window
        self._cache: dict[str, Capabilities] = {}

    def of(self, dep: Deployment) -> Capabilities:
        caps = self._cache.get(dep.key)
        if caps is None:
            caps = self._resolve(dep)
            if len(self._cache) < 10_000:
                self._cache[dep.key] = caps
        return caps

    def _resolve(self, dep: Deployment) -> Capabilities:
        fields: dict[str, Any] = {}
        builtin = next((f for g, f in BUILTIN if fnmatch.fnmatchcase(dep.model_id, g)), None)
        if builtin:
            _merge(fields, builtin)
        if self._window is not None:
            window = self._window(dep.provider, dep.model_id)
            if window:
                fields["context_window"] = window
        names = (dep.key, dep.name, f"{dep.provider}/{dep.model_id}", dep.model_id)
        for glob, extra in self._globs:
            if any(fnmatch.fnmatchcase(n, glob) for n in names):
                _merge(fields, extra)
                break
        for n in reversed(names):  # most specific last, so it wins
            if n in self._exact:
                _merge(fields, self._exact[n])
        return dataclasses.replace(Capabilities(), **fields)


def cannot_serve(caps: Capabilities, facts: RequestFacts) -> str | None:
    """Why a deployment with ``caps`` cannot serve the request, or ``None`` if it can."""
    if facts.has_tools and not caps.tools:
        return "does not support tools"
    if facts.has_images and not caps.vision:
        return "does not accept images"
    if facts.json_mode and not caps.json_mode:
        return "does not support JSON mode"
    if caps.max_output_tokens is not None and facts.max_tokens > caps.max_output_tokens:
        return f"max_tokens {facts.max_tokens} is above its limit of {caps.max_output_tokens}"
    window = caps.context_window
    # Bounds settle nearly every request; a prompt near the window raises TokensNeeded and
    # is decided again once counted off the event loop.
    if window is not None and not facts.tokens_within(None, window - facts.max_tokens):
        need = (facts.input_tokens if facts.counted else facts.approx_tokens()) + facts.max_tokens
        return f"needs ~{need} tokens, above its {window}-token context window"
    return None
