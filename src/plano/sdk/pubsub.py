"""Publish and subscribe through Plano (``POST``/``GET {PLANO_URL}/v1/topics/{topic}``), as the
agent (its ``PLANO_AGENT_TOKEN``), with the current turn's ids on the message."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from plano.core.sse import SSEParser
from plano.sdk.context import agent_token, plano_url, propagation_headers

__all__ = ["Event", "ack", "publish", "subscribe"]


@dataclass(frozen=True, slots=True)
class Event:
    """A message as delivered (SSE or push): ``data`` is the published JSON value or text."""

    id: str
    topic: str
    data: Any
    deliveries: int = 1
    publisher: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_envelope(cls, env: dict[str, Any]) -> Event:
        return cls(
            str(env["id"]),
            str(env["topic"]),
            env.get("data"),
            int(env.get("deliveries", 1)),
            env.get("publisher"),
            dict(env.get("headers") or {}),
        )


def _headers(token: str | None) -> dict[str, str]:
    headers = propagation_headers()
    token = token or agent_token()
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


@contextlib.asynccontextmanager
async def _session(given: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    """The caller's session (its pooled connections), else one for this call alone."""
    if given is not None:
        yield given
        return
    async with aiohttp.ClientSession() as session:
        yield session


async def publish(
    topic: str,
    data: Any,
    *,
    base_url: str | None = None,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> str:
    """Publish ``data`` (JSON-encoded unless ``bytes``); the message id. An agent that
    publishes often passes its own ``session``, so calls reuse its connections."""
    headers = _headers(token)
    if isinstance(data, bytes):
        body = data
        headers["content-type"] = "application/octet-stream"
    else:
        body = json.dumps(data).encode()
        headers["content-type"] = "application/json"
    url = f"{base_url or plano_url()}/v1/topics/{topic}"
    async with _session(session) as http, http.post(url, data=body, headers=headers) as resp:
        answer = await resp.json(content_type=None)
        if resp.status != 202:
            raise RuntimeError(f"publish to {topic} failed ({resp.status}): {answer}")
        return str(answer["id"])


async def ack(
    topic: str,
    group: str,
    ids: list[str],
    *,
    base_url: str | None = None,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> None:
    """Acknowledge ``ids`` of ``group`` (a subscription without ``auto_ack``)."""
    url = f"{base_url or plano_url()}/v1/topics/{topic}/ack"
    body = {"group": group, "ids": ids}
    async with (
        _session(session) as http,
        http.post(url, json=body, headers=_headers(token)) as resp,
    ):
        if resp.status != 200:
            raise RuntimeError(f"ack on {topic} failed ({resp.status})")


async def subscribe(
    topic: str,
    *,
    group: str | None = None,
    after: str | None = None,
    auto_ack: bool = True,
    base_url: str | None = None,
    token: str | None = None,
    reconnect: float = 0.5,
) -> AsyncIterator[Event]:
    """Events of ``topic`` as they come, reconnecting after a drop: with ``group``, the
    group's messages (acknowledged on receipt with ``auto_ack``, else call :func:`ack`);
    without, every message after ``after`` (``"0"``: from the oldest kept; none: from now),
    resuming after the last event seen."""
    last = after
    while True:
        params = {"group": group, "auto_ack": "1" if auto_ack else "0"} if group else {}
        headers = _headers(token)
        if not group and last is not None:
            headers["last-event-id"] = last
        url = f"{base_url or plano_url()}/v1/topics/{topic}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, params=params, headers=headers) as resp,
            ):
                if resp.status != 200:
                    raise RuntimeError(f"subscribe to {topic} failed ({resp.status})")
                async for event in _events(resp):
                    last = event.id
                    yield event
        except (TimeoutError, aiohttp.ClientError):
            pass
        await asyncio.sleep(reconnect)


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    # The gateway's own SSE parser (pure, in plano.core): comments (heartbeats) skipped,
    # CRLF and split chunks handled, one event's bytes buffered at most.
    parser = SSEParser()
    async for chunk in resp.content.iter_any():
        for ev in parser.feed(chunk):
            if ev.event == "error":  # the store went away: subscribe again
                return
            if ev.data:
                yield Event.from_envelope(json.loads(ev.data))
