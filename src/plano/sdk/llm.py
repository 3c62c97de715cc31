"""Clients preconfigured for Plano's model listener, with the current turn's headers added to
every request by an httpx event hook (so the openai SDK, LangChain's ChatOpenAI or anything
taking an ``httpx.AsyncClient`` propagate them)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from plano.sdk.context import plano_url, propagation_headers

if TYPE_CHECKING:
    import httpx

__all__ = ["add_turn_headers", "http_client", "llm"]


async def add_turn_headers(request: Any) -> None:
    """httpx ``request`` hook: the current turn's propagation headers (the caller's own
    win)."""
    for name, value in propagation_headers().items():
        if name not in request.headers:
            request.headers[name] = value


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that carries the turn's ids on every request."""
    import httpx

    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("request", []).append(add_turn_headers)
    return httpx.AsyncClient(event_hooks=hooks, **kwargs)


_clients: dict[tuple[str, str], Any] = {}


def llm(base_url: str | None = None, api_key: str | None = None) -> Any:
    """An ``openai.AsyncOpenAI`` client for Plano's model listener (``PLANO_URL/v1``), made
    once per address and key and reused; needs the ``openai`` package."""
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    url = (base_url or plano_url()) + "/v1"
    key = api_key or os.environ.get("PLANO_API_KEY") or "plano"
    client = _clients.get((url, key))
    if client is None:
        # The openai SDK's own httpx flavour, with the hook that adds the turn's headers.
        hooks = {"request": [add_turn_headers]}
        http = DefaultAsyncHttpxClient(event_hooks=hooks, timeout=300)
        client = AsyncOpenAI(base_url=url, api_key=key, http_client=http)
        _clients[(url, key)] = client
    return client
