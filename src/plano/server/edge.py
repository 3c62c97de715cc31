"""The HTTP edge: what happens before a request reaches a route.

aiohttp's own protocol handler is extended here, in one place, for what a gateway facing
untrusted clients needs and aiohttp does not do by default:

* **Errors of malformed HTTP** (a 64 KB header, 200 headers, a bad request line) answer JSON
  that both the OpenAI and the Anthropic SDKs parse, not ``text/plain``, and log one line
  instead of a traceback.
* **A header-read time limit** (slowloris): a connection that has not sent a whole request
  head within ``header_timeout`` gets a 408 and is closed.
* **Connections per client address** are capped; past the cap a connection gets a 429 and is
  closed before any request is read.
* **Host and Origin checks** (:func:`guard_middleware`): a request whose ``Host`` is not an
  allowed name (DNS rebinding) or that comes from another site's page (an ``Origin`` that is
  not allowed) is refused; admin endpoints need the admin key, or a loopback listener.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from plano.errors import AuthenticationError, InvalidRequest, PermissionDenied, PlanoError
from plano.wire.shapes import ClientShape, shape_for_path

__all__ = [
    "ADMIN_PREFIX",
    "ADMIN_SEEN",
    "EdgeRunner",
    "EdgeSettings",
    "HostPolicy",
    "describe_exposure",
    "error_response",
    "guard_middleware",
    "is_loopback",
]

log = logging.getLogger("plano.edge")

ADMIN_PREFIX = "/plano/"
#: Open paths whose answer has an anonymous and an admin form (``/readyz``: status alone, or
#: with each store's target and error); the guard marks the request with :data:`ADMIN_SEEN`.
ADMIN_DETAIL_PATHS = frozenset({"/readyz"})
#: Request key: ``True`` when the caller would pass the admin endpoints' check.
ADMIN_SEEN = web.RequestKey("plano.admin_seen", bool)
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    header_timeout: float | None = 10.0
    #: 0: no cap.
    max_connections_per_client: int = 1024


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Who may talk to a listener, decided per request from its ``Host`` and ``Origin``
    headers and, for admin paths, the admin key. Pure: values in, a verdict out."""

    #: Allowed ``Host`` names (no port). Empty: loopback names on a loopback listener, any
    #: name otherwise (a public listener is reached by names Plano cannot know).
    hosts: frozenset[str] = frozenset()
    #: Origins (``scheme://host[:port]``) whose pages may call the API; ``*`` allows any.
    origins: frozenset[str] = frozenset()
    loopback: bool = True
    admin_key: str | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        bind: str,
        hosts: Iterable[str] = (),
        origins: Iterable[str] = (),
        admin_key: str | None = None,
    ) -> HostPolicy:
        loop = is_loopback(bind)
        names = {h.lower() for h in hosts}
        if not names and loop:
            names = set(_LOOPBACK_NAMES)
        return cls(frozenset(names), frozenset(o.lower() for o in origins), loop, admin_key)

    def host_allowed(self, host: str | None) -> bool:
        if not self.hosts:
            return True
        if not host:
            return False
        name = _host_name(host.lower())
        return name in self.hosts or (
            self.loopback and name.endswith(".localhost") and "localhost" in self.hosts
        )

    def origin_allowed(self, origin: str | None) -> bool:
        """Browsers send ``Origin`` on cross-site requests (every POST); API clients do not.
        Only configured origins pass: the gateway serves no pages of its own, and a "same
        origin" rule would let a DNS-rebinding page (Host and Origin both evil.com) through."""
        if origin is None or "*" in self.origins:
            return True
        return origin.lower() in self.origins

    def admin_refusal(self, headers: Any) -> PlanoError | None:
        """Why an admin request is refused, or ``None``."""
        if self.admin_key is None:
            if self.loopback:
                return None
            return PermissionDenied(
                "Admin endpoints are disabled on a non-loopback listener until "
                "gateway.admin_key is set.",
                code="admin_disabled",
            )
        given = _bearer(headers.get("authorization")) or headers.get("x-plano-admin-key")
        # Header bytes that are not UTF-8 arrive as surrogates: never a match, never a crash.
        # Bytes: compare_digest refuses str with non-ASCII (a config's admin_key may have some).
        if (
            given
            and given.isascii()
            and hmac.compare_digest(given.encode(), self.admin_key.encode())
        ):
            return None
        return AuthenticationError(
            "Admin endpoints need the admin key (Authorization: Bearer <key> or "
            "x-plano-admin-key).",
            code="invalid_admin_key",
        )


def describe_exposure(policy: HostPolicy, host: str, auth: str | None = None) -> list[str]:
    """What a listener exposes, in words, for ``plano up``'s banner; ``auth`` says how the
    model API authenticates clients (``None``: it does not)."""
    if policy.loopback:
        reach = f"{host} is loopback: only programs on this machine can connect"
    else:
        reach = f"{host} is reachable from other machines"
        if host in ("0.0.0.0", "::", "[::]"):
            reach += " (every network interface)"
    model = (
        f"model API: {auth}"
        if auth
        else ("model API: open (no auth: section); whoever can connect can call every model")
    )
    if policy.admin_key is not None:
        admin = "admin API (/plano/v1): admin key required"
    elif policy.loopback:
        admin = "admin API (/plano/v1): open to loopback clients (set gateway.admin_key)"
    else:
        admin = "admin API (/plano/v1): disabled until gateway.admin_key is set"
    hosts = "any Host name" if not policy.hosts else ", ".join(sorted(policy.hosts))
    origins = ", ".join(sorted(policy.origins)) if policy.origins else "none (API clients only)"
    return [reach, model, admin, f"accepted Host names: {hosts}; web origins: {origins}"]


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:12000
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, _sep, _port = host.partition(":")
    return name


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def error_response(path: str, err: PlanoError, shape: ClientShape | None = None) -> web.Response:
    """``err`` as JSON in the error shape a client of ``path`` reads (``shape``: an endpoint
    that knows its own, such as ``/routing/v1/messages``), with the error's status. The one
    renderer of error answers outside the model handlers."""
    shape = shape or shape_for_path(path)
    return web.Response(
        body=orjson.dumps(shape.error_body(err)),
        status=err.status,
        content_type="application/json",
    )


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard_middleware(policy: HostPolicy) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        headers = request.headers
        host = headers.get("host")
        if not policy.host_allowed(host):
            err: PlanoError = PermissionDenied(
                "This gateway does not answer to that Host name.", code="host_not_allowed"
            )
            return error_response(request.path, err)
        if not policy.origin_allowed(headers.get("origin")):
            err = PermissionDenied(
                "Requests from web pages of other sites are not allowed (gateway.allowed_origins).",
                code="origin_not_allowed",
            )
            return error_response(request.path, err)
        if request.path.startswith(ADMIN_PREFIX):
            refused = policy.admin_refusal(headers)
            if refused is not None:
                return error_response(request.path, refused)
        elif request.path in ADMIN_DETAIL_PATHS:
            request[ADMIN_SEEN] = policy.admin_refusal(headers) is None
        return await handler(request)

    return guard


# ---------------------------------------------------------------- the protocol handler


def _raw_response(status: int, reason: str, err: PlanoError) -> bytes:
    """A whole HTTP/1.1 response, for connections refused before aiohttp parses a request."""
    body = orjson.dumps(_generic_error(err))
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _generic_error(err: PlanoError) -> dict[str, Any]:
    """An error body that the OpenAI SDKs (``error.message``/``type``/``code``) and the
    Anthropic SDK (``type: error``, ``error.type``/``message``) both read, for answers given
    before the request's path (and so its shape) is known."""
    return {
        "type": "error",
        "error": {
            "message": err.message,
            "type": err.error_type,
            "code": err.code,
            "param": None,
        },
    }


def _parser_reason(message: str) -> str:
    """The parser's reason without the line it quotes (``Invalid header value char:`` then
    the header line, which may be ``Authorization: Bearer <key>``): never logged, never echoed."""
    first = message.strip().split("\n", 1)[0].strip().rstrip(":")
    return first[:200] or "bad request"


class _EdgeHandler(RequestHandler):
    __slots__ = ("_head_timer",)

    def __init__(self, manager: _EdgeServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages or self._request_in_progress:
            self._disarm()  # a whole request head arrived
        elif self._head_timer is None:
            self._arm()  # the next request on a kept-alive connection starts

    def _arm(self) -> None:
        manager = self._manager
        limit = manager.edge.header_timeout if isinstance(manager, _EdgeServer) else None
        if limit:
            self._head_timer = self._loop.call_later(limit, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._messages or self._request_in_progress or self.transport is None:
            return
        err = PlanoError("The request head was not received in time.", code="header_timeout")
        err.status = 408
        self.transport.write(_raw_response(408, "Request Timeout", err))
        self.force_close()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Malformed HTTP (and, as a last resort, an unhandled error) as JSON. A client's
        garbage is one log line, not a traceback; only a 500 is a bug worth one."""
        if status >= 500:
            log.error("unhandled error serving %s", request.remote, exc_info=exc)
            err = PlanoError("Internal gateway error.")
        else:
            why = _parser_reason(message or str(exc or "") or "bad request")
            log.info("malformed HTTP from %s: %s %s", request.remote, status, why)
            err = InvalidRequest(f"Malformed HTTP request: {why}", code="bad_http")
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        err.status = status
        resp = web.Response(
            body=orjson.dumps(_generic_error(err)), status=status, content_type="application/json"
        )
        resp.force_close()
        return resp


class _EdgeServer(web.Server):
    """aiohttp's server with the edge's handler and a count of connections per address
    (set up by :class:`EdgeRunner`, which adopts the server aiohttp built)."""

    edge: EdgeSettings
    _per_peer: dict[str, int]
    _peer_of: dict[RequestHandler, str]

    def __call__(self) -> RequestHandler:
        return _EdgeHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        cap = self.edge.max_connections_per_client
        if not cap:
            return
        peer = transport.get_extra_info("peername")
        addr = str(peer[0]) if peer else ""
        n = self._per_peer.get(addr, 0) + 1
        self._per_peer[addr] = n
        self._peer_of[handler] = addr
        if n > cap:
            if n == cap + 1:
                log.warning("client %s reached %d connections; refusing more", addr, cap)
            err = PlanoError(
                f"Too many connections from this address (limit {cap}).", code="too_many_conns"
            )
            err.status = 429
            transport.write(_raw_response(429, "Too Many Requests", err))
            transport.close()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        addr = self._peer_of.pop(handler, None)
        if addr is not None:
            n = self._per_peer.get(addr, 1) - 1
            if n > 0:
                self._per_peer[addr] = n
            else:
                self._per_peer.pop(addr, None)


class EdgeRunner(web.AppRunner):
    """``web.AppRunner`` whose server uses the edge's protocol handler."""

    def __init__(self, app: web.Application, edge: EdgeSettings, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._edge = edge

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its Server inside the app; adopt it (same state, edge behaviour).
        server.__class__ = _EdgeServer
        assert isinstance(server, _EdgeServer)
        server._per_peer = {}
        server._peer_of = {}
        server.edge = self._edge
        return server
