"""The input document a policy sees (``input`` in Rego), built from a request's context.

Pure: values in, a dict out (the clock and the facts the filter gathered are arguments). The
schema is documented in ``docs/policies.md``; :func:`plano.rego.sample_input` is its example
and the tests hold this builder to it. What it costs is kept small: the principal's part is
cached per principal, the request's part is built once per request and reused by the
response phase, message text is left out unless a policy asks for it (``include_text``),
and sizes come from :func:`~plano.core.model.text_size`, computed once per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import orjson

from plano.core.model import ChatRequest, ImagePart, TextSize, ToolCall, text_size
from plano.pipeline.context import Principal, RequestContext
from plano.providers.deployment import Deployment
from plano.rego.schema import Phase

__all__ = [
    "SpendReader",
    "build_input",
    "deployment_doc",
    "estimate_tokens",
    "principal_doc",
    "request_doc",
    "time_doc",
    "tool_call_docs",
]

#: Tokens an image is counted as in the estimate (a low-detail image's price).
_IMAGE_TOKENS = 85


class SpendReader(Protocol):
    """What a principal has spent so far (the budgets' counters), for ``input.spend``:
    e.g. ``{"usd": 12.5, "tokens": 40000, "period": "month"}``; ``None`` when unknown."""

    async def __call__(self, principal: Principal) -> Mapping[str, Any] | None: ...


@lru_cache(maxsize=4096)
def principal_doc(p: Principal) -> dict[str, Any]:
    """``input.principal`` (cached per principal: never mutate the result)."""
    return {
        "id": p.id,
        "kind": p.kind,
        "user": p.user,
        "team": p.team,
        "tenant": p.tenant,
        "tags": sorted(p.tags),
    }


def estimate_tokens(size: TextSize) -> int:
    """A prompt's tokens from its size, without a tokenizer (accounting's estimate)."""
    return (
        3
        + 3 * size.messages
        + size.ascii_chars // 4
        + size.other_bytes // 3
        + _IMAGE_TOKENS * size.images
    )


def _messages(req: ChatRequest, include_text: bool) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    total = 0
    for m in req.messages:
        chars = images = 0
        for p in m.content:
            if isinstance(p, ImagePart):
                images += 1
            else:
                chars += len(p.text)
        for c in m.tool_calls:
            chars += len(c.name) + len(c.arguments)
        total += chars
        item: dict[str, Any] = {
            "role": m.role,
            "chars": chars,
            "images": images,
            "tool_calls": len(m.tool_calls),
        }
        if include_text:
            item["text"] = m.text()
        out.append(item)
    return out, total


def request_doc(
    req: ChatRequest, *, include_text: bool, resolved: Mapping[str, str] | None
) -> dict[str, Any]:
    """``input.request``: what was asked, and a summary of the messages (roles and sizes;
    their text only with ``include_text``)."""
    size = text_size(req)
    messages, chars = _messages(req, include_text)
    return {
        "shape": req.shape,
        "model": req.model,
        "resolved": dict(resolved) if resolved is not None else None,
        "stream": req.stream,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "messages": messages,
        "message_count": len(messages),
        "chars": chars,
        "images": size.images,
        "estimated_tokens": estimate_tokens(size),
        "tool_choice": req.tool_choice,
    }


def deployment_doc(dep: Deployment | None) -> dict[str, str] | None:
    """``input.deployment``: the deployment that answered (response phase)."""
    if dep is None:
        return None
    return {"name": dep.key, "provider": dep.provider, "model": dep.model_id}


def _arguments(text: str) -> Any:
    try:
        return orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return text  # not JSON: the policy gets the text as it came


def tool_call_docs(calls: Iterable[tuple[int, ToolCall]]) -> list[dict[str, Any]]:
    """``input.tool_calls``: ``(choice index, call)`` pairs, arguments parsed from JSON."""
    return [
        {"id": c.id, "name": c.name, "arguments": _arguments(c.arguments), "choice": choice}
        for choice, c in calls
    ]


@lru_cache(maxsize=4)
def _iso(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def time_doc(now: float) -> dict[str, Any]:
    """``input.time``: UTC, as ISO 8601 text (formatted once per second) and epoch seconds /
    nanoseconds."""
    return {"iso": _iso(int(now)), "epoch": now, "epoch_ns": int(now * 1e9)}


def build_input(
    ctx: RequestContext,
    phase: Phase,
    *,
    now: float,
    request: Mapping[str, Any],
    session_tool_calls: int | None = None,
    spend: Mapping[str, Any] | None = None,
    tool_calls: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The whole document for ``phase``; ``request`` is :func:`request_doc` (built once per
    request), ``tool_calls`` :func:`tool_call_docs` of the answer (response phase)."""
    req = ctx.request
    return {
        "phase": phase,
        "principal": principal_doc(ctx.principal),
        "listener": ctx.listener,
        "hop": ctx.hop,
        "agent": ctx.agent_id,
        "session": {"id": ctx.session_id, "tool_calls": session_tool_calls},
        "request": request,
        "deployment": deployment_doc(ctx.deployment) if phase == "response" else None,
        "tools": [t.name for t in req.tools] if req is not None else [],
        "tool_calls": list(tool_calls),
        "spend": dict(spend) if spend is not None else None,
        "time": time_doc(now),
    }
