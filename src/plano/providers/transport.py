"""HTTP to the providers: one pooled aiohttp session per upstream origin, error mapping at
the boundary, and the connect / first-byte / idle timeouts.

Deployments that share an origin share one connection pool (Plano's issue #606: duplicate
clusters for providers with one base_url).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from plano.errors import (
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from plano.providers.codec import UpstreamRequest

__all__ = ["Timeouts", "UpstreamPool", "map_client_error"]

log = logging.getLogger("plano.upstream")


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    #: Until the response headers arrive, and between two chunks of a stream.
    first_byte: float = 60.0


def map_client_error(exc: BaseException, provider: str) -> PlanoError:
    """aiohttp / socket failures to Plano errors; messages never carry URLs or keys."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"The provider '{provider}' did not answer in time.")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError | socket.gaierror):
        return UpstreamConnectError(f"Could not connect to the provider '{provider}'.")
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionResetError
    ):
        return UpstreamProtocolError(
            f"The provider '{provider}' closed the connection mid-response."
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamProtocolError(f"The provider '{provider}' sent an invalid response.")
    return UpstreamConnectError(f"The request to the provider '{provider}' failed.")


class UpstreamPool:
    """Sessions are created lazily inside the running loop and live until :meth:`close`."""

    def __init__(self, timeouts: Timeouts, *, limit: int = 0, limit_per_host: int = 0) -> None:
        self.timeouts = timeouts
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def session(self, url: str) -> aiohttp.ClientSession:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        s = self._sessions.get(origin)
        if s is None or s.closed:
            # aiohttp's default cap of 100 connections would queue a gateway's traffic.
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            s = self._sessions[origin] = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self.timeouts.connect,
                    sock_read=self.timeouts.first_byte,
                ),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return s

    @asynccontextmanager
    async def open(
        self, req: UpstreamRequest, provider: str
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and yield the response once its headers are in; errors are mapped."""
        session = self.session(req.url)
        try:
            # The session's sock_connect / sock_read limits bound the connect and the wait for
            # the first byte; no extra asyncio timeout is needed on the hot path.
            resp = await session.post(req.url, data=req.body, headers=req.headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise map_client_error(exc, provider) from exc
        try:
            yield resp
        except BaseException:
            # Cancelled (client gone) or failed mid-body: drop the connection so the provider
            # stops generating tokens nobody will read.
            resp.close()
            raise
        else:
            resp.release()

    async def read(self, resp: aiohttp.ClientResponse, provider: str) -> bytes:
        try:
            return await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise map_client_error(exc, provider) from exc

    async def close(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()
