"""The IO edge of remote filters: one pooled aiohttp session for every filter, and the headers
a filter receives.

Every ``http`` and ``mcp`` filter of a runtime posts through one :class:`FilterClient` (kept
alive connections, no per-request clients). aiohttp's errors and time limits are mapped here,
at the boundary, to :class:`~plano.filters.errors.FilterFailed` and
:class:`~plano.filters.errors.FilterTimeout`; their messages name the filter, never its URL.
Redirects are not followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from plano.core.credentials import ADMIN_KEY_HEADER, CREDENTIAL_HEADERS
from plano.core.trace import new_span_id
from plano.filters.errors import FilterFailed, FilterTimeout
from plano.pipeline.context import RequestContext

__all__ = ["ADMIN_KEY_HEADER", "CREDENTIAL_HEADERS", "FilterClient", "Reply", "filter_headers"]

#: Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, not the request.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Set by Plano for the filter call (or meaningless to it), never copied from the client.
_OWN = frozenset(
    {
        "content-length",
        "content-type",
        "content-encoding",
        "accept",
        "accept-encoding",
        "host",
        "expect",
        "traceparent",
        "tracestate",
        "x-request-id",
        "x-arch-upstream",
        "mcp-session-id",
        ADMIN_KEY_HEADER,
    }
)

#: Largest reply read from a filter (a request body is at most the listener's body limit).
MAX_REPLY = 64 * 1024 * 1024


def filter_headers(ctx: RequestContext, filter_id: str, *, forward_auth: bool) -> dict[str, str]:
    """What Plano sends a filter besides the body (as Plano does): the client's headers minus
    hop-by-hop ones, ``content-length`` and, unless ``forward_auth``, its credentials (a filter
    is another origin: the client's key was meant for the gateway or its providers); a
    ``traceparent`` of a new span under this request's; ``x-request-id``; ``x-arch-upstream``."""
    named = {t.strip().lower() for t in ctx.headers.get("connection", "").split(",")}
    out: dict[str, str] = {}
    for name, value in ctx.headers.items():
        low = name.lower()
        if low in _HOP_BY_HOP or low in _OWN or low in named:
            continue
        if low in CREDENTIAL_HEADERS and not forward_auth:
            continue
        out[low] = f"{out[low]}, {value}" if low in out else value
    # A traced request's filter span: named here, the chain records it for this call.
    marks = ctx.spans
    if marks is not None and marks.active is None:
        marks.active = new_span_id()
    span = ctx.trace.child(marks.active if marks is not None else None)
    out["traceparent"] = span.traceparent()
    if span.state:
        out["tracestate"] = span.state
    out["x-request-id"] = ctx.forward_id
    out["x-arch-upstream"] = filter_id
    return out


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    #: Response headers, names lower-cased.
    headers: Mapping[str, str]
    body: bytes


class FilterClient:
    """One aiohttp session shared by every remote filter of a runtime.

    Filters ``acquire`` it when the server starts and ``release`` it when it stops; the
    session opens on first use (inside the running loop) and closes with its last user.
    """

    def __init__(self, *, max_connections: int = 512, max_reply: int = MAX_REPLY) -> None:
        self._max_connections = max_connections
        self._max_reply = max_reply
        self._session: aiohttp.ClientSession | None = None
        self._users = 0

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=True
            )
        return self._session

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        self._users = max(self._users - 1, 0)
        if self._users == 0:
            await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def post(
        self,
        filter_id: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> Reply:
        """POST ``body``; the whole reply within ``time_limit`` seconds."""
        try:
            async with asyncio.timeout(time_limit):
                async with self._open().post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    data = await self._read(filter_id, resp)
                    names = {k.lower(): v for k, v in resp.headers.items()}
                    return Reply(resp.status, names, data)
        except TimeoutError as exc:
            raise FilterTimeout(filter_id, f"no answer within {time_limit:g}s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise FilterFailed(filter_id, "it could not be reached") from exc

    async def _read(self, filter_id: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._max_reply
        if resp.content_length is not None and resp.content_length > limit:
            raise FilterFailed(filter_id, f"its reply is larger than {limit} bytes")
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise FilterFailed(filter_id, f"its reply is larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)
