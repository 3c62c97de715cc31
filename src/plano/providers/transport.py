"""HTTP to the providers: one pooled aiohttp session per upstream origin, error mapping at
the boundary, and the connect / first-byte / idle timeouts.

Deployments that share an origin share one connection pool (Plano's issue #606: duplicate
clusters for providers with one base_url). Redirects are never followed: the request carries
the provider key, and a redirect may point anywhere. Provider error answers are decoded here,
through the pool's :class:`~plano.core.redact.SecretScrubber`, so no path to a client skips it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from plano.core.redact import SecretScrubber
from plano.errors import (
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from plano.providers.codec import Codec, UpstreamRequest
from plano.tls import TLSContext

__all__ = ["MAX_HEADER_LINE", "Timeouts", "UpstreamPool", "map_client_error"]

log = logging.getLogger("plano.upstream")

#: Longest response status or header line read from a provider (aiohttp's own default, set
#: here on purpose). A longer one fails the attempt, which may then fail over: aiohttp cannot
#: skip one header and keep the rest, and raising the limit only moves it.
MAX_HEADER_LINE = 8190


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
        if _header_too_long(exc):
            return UpstreamProtocolError(
                f"The provider '{provider}' sent a response header longer than "
                f"{MAX_HEADER_LINE} bytes."
            )
        return UpstreamProtocolError(f"The provider '{provider}' sent an invalid response.")
    return UpstreamConnectError(f"The request to the provider '{provider}' failed.")


def _header_too_long(exc: BaseException) -> bool:
    # aiohttp wraps its parser's LineTooLong: ClientResponseError <- HttpProcessingError <- it.
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, LineTooLong):
            return True
        seen = seen.__cause__
    return False


#: Characters of a provider's error text relayed to the client (scrubbing a megabyte of
#: hostile text would hold the event loop; no useful message is that long).
MAX_ERROR_TEXT = 8 * 1024


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_TEXT:
        return text
    return text[:MAX_ERROR_TEXT] + "...(truncated)"


def _scrubbed(err: UpstreamStatusError, scrubber: SecretScrubber) -> UpstreamStatusError:
    return UpstreamStatusError(
        scrubber.scrub(_short(err.message) or ""),
        status=err.status,
        code=scrubber.scrub_optional(_short(err.code)),
        param=scrubber.scrub_optional(_short(err.param)),
        retry_after=err.retry_after,
        upstream_type=scrubber.scrub_optional(_short(err.upstream_type)),
    )


#: Bytes of an upstream error body that are read (and decoded); the rest is dropped.
MAX_ERROR_BODY = 1024 * 1024


class UpstreamPool:
    """Sessions are created lazily inside the running loop and live until :meth:`close`.

    ``scrubber`` (built at start-up with the configured keys; by default one that knows only
    key shapes) cleans every provider error before it can reach a client; stream relays reuse
    it as :attr:`scrubber`.

    ``tls``: per origin, the context its connections use (a custom CA bundle, a client
    certificate), built once when the config was checked; other https origins verify
    against the system's CAs."""

    def __init__(
        self,
        timeouts: Timeouts,
        *,
        limit: int = 0,
        limit_per_host: int = 0,
        scrubber: SecretScrubber | None = None,
        tls: Mapping[str, TLSContext] | None = None,
    ) -> None:
        self.timeouts = timeouts
        self.tls: Mapping[str, TLSContext] = tls or {}
        self.scrubber = scrubber or SecretScrubber()
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        #: Origins whose session a successor pool took over (:meth:`adopt`): not closed here.
        self._handed_over: set[str] = set()
        #: (provider, problem) pairs already logged: a misconfigured provider fails every
        #: request, and one warning says it all.
        self._warned: set[tuple[str, str]] = set()

    @staticmethod
    def origin(url: str) -> str:
        """The key sessions are pooled under: ``scheme://host[:port]``."""
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def session(self, url: str) -> aiohttp.ClientSession:
        origin = self.origin(url)
        s = self._sessions.get(origin)
        if s is None or s.closed:
            # aiohttp's default cap of 100 connections would queue a gateway's traffic.
            tls = self.tls.get(origin)
            connector = aiohttp.TCPConnector(
                ssl=tls.context if tls is not None else True,
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
                max_line_size=MAX_HEADER_LINE,
                max_field_size=MAX_HEADER_LINE,
            )
        return s

    @asynccontextmanager
    async def open(
        self, req: UpstreamRequest, provider: str
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and yield the response once its headers are in; errors are mapped, and a
        redirect is an error (it may fail over) rather than a second request with the key."""
        session = self.session(req.url)
        try:
            # The session's sock_connect / sock_read limits bound the connect and the wait for
            # the first byte; no extra asyncio timeout is needed on the hot path.
            resp = await session.post(
                req.url, data=req.body, headers=req.headers, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if _header_too_long(exc):
                self._warn_once(
                    provider,
                    "header",
                    "the provider '%s' sent a response header longer than %d bytes; "
                    "such answers fail (and may fail over)",
                    MAX_HEADER_LINE,
                )
            raise map_client_error(exc, provider) from exc
        if 300 <= resp.status < 400:
            resp.close()
            # Neither the Location nor the body is logged: either may carry a token.
            self._warn_once(
                provider,
                "redirect",
                "the provider '%s' answered with a redirect (HTTP %d); Plano does not follow "
                "redirects: check its base_url",
                resp.status,
            )
            raise UpstreamProtocolError(
                f"The provider '{provider}' answered with a redirect (HTTP {resp.status}), "
                "which Plano does not follow."
            )
        try:
            yield resp
        except BaseException:
            # Cancelled (client gone) or failed mid-body: drop the connection so the provider
            # stops generating tokens nobody will read.
            resp.close()
            raise
        else:
            resp.release()

    def decode_error(
        self, codec: Codec, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamStatusError:
        """The codec's reading of an error answer, with secrets scrubbed from every text in
        it: providers echo keys (``Incorrect API key provided: sk-...``)."""
        return _scrubbed(codec.decode_error(status, body, headers), self.scrubber)

    async def read_error(
        self, codec: Codec, resp: aiohttp.ClientResponse, provider: str
    ) -> UpstreamStatusError:
        """Read an error answer's body (its first :data:`MAX_ERROR_BODY` bytes: a message
        never needs more, and a broken upstream must not fill memory) and decode it."""
        body = await self._read_capped(resp, provider, MAX_ERROR_BODY)
        return self.decode_error(codec, resp.status, body, resp.headers)

    async def _read_capped(self, resp: aiohttp.ClientResponse, provider: str, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= limit:
                    break
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise map_client_error(exc, provider) from exc
        return b"".join(chunks)[:limit]

    def _warn_once(self, provider: str, problem: str, message: str, *args: object) -> None:
        if (provider, problem) not in self._warned:
            self._warned.add((provider, problem))
            log.warning(message, provider, *args)

    async def read(self, resp: aiohttp.ClientResponse, provider: str) -> bytes:
        try:
            return await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise map_client_error(exc, provider) from exc

    def adopt(self, old: UpstreamPool, origins: Iterable[str]) -> list[str]:
        """Take over ``old``'s open sessions for ``origins`` (a config reload: connections to
        providers that are still configured stay warm). Sessions carry their timeouts and
        limits, so nothing is taken when those changed. ``old`` keeps using them for the
        requests it still serves but no longer closes them. Returns the origins taken."""
        same = (old.timeouts, old._limit, old._limit_per_host) == (
            self.timeouts,
            self._limit,
            self._limit_per_host,
        )
        if not same:
            return []
        taken: list[str] = []
        for origin in origins:
            s = old._sessions.get(origin)
            if s is None or s.closed or origin in self._sessions:
                continue
            if self._fingerprint(origin) != old._fingerprint(origin):
                continue  # other TLS files: new connections, with the new context
            self._sessions[origin] = s
            old._handed_over.add(origin)
            taken.append(origin)
        return taken

    def _fingerprint(self, origin: str) -> str | None:
        tls = self.tls.get(origin)
        return tls.fingerprint if tls is not None else None

    async def close(self) -> None:
        for origin, s in self._sessions.items():
            if origin not in self._handed_over:
                await s.close()
        self._sessions.clear()
