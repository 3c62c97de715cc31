"""Serving listeners: one aiohttp application per listener, registered once per process, whose
routes reach the handlers of the current runtime snapshot.

Each route of the application is a small dispatcher: it reads ``holder.current`` once (the
request then runs on that snapshot to its end, whatever reloads happen meanwhile), counts the
request in that snapshot's ``in_flight``, and calls the snapshot's guard (Host, Origin, admin
key) and handler. The edge (``server/edge.py``) sits under it unchanged.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from plano.errors import ConfigError
from plano.server.edge import EdgeRunner, EdgeSettings
from plano.server.runtime import Handler, Runtime, RuntimeHolder
from plano.tls import ServerTLS, TLSContext

__all__ = ["ListenerServer", "edge_settings"]


def edge_settings(runtime: Runtime) -> EdgeSettings:
    g = runtime.config.gateway
    return EdgeSettings(g.header_timeout, g.max_connections_per_client)


def _tls_of(runtime: Runtime, name: str) -> TLSContext:
    material = runtime.config.tls_material
    built = material.listeners.get(name) if material is not None else None
    if built is None:  # a config built without check_config (an embedder's mistake)
        raise ConfigError(f"listener {name!r}: its tls settings were never checked")
    return built


class _TLSSite(web.SockSite):
    """A TLS socket site whose handshakes must finish within the request-head time limit
    (the edge's own limits start only once a handshake is done; asyncio's default would let
    a silent client hold a socket for a minute)."""

    def __init__(
        self, runner: EdgeRunner, sock: socket.socket, tls: ServerTLS, handshake_timeout: float
    ) -> None:
        super().__init__(runner, sock, ssl_context=tls.front)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._handshake_timeout,
        )


def _dispatch(holder: RuntimeHolder, position: int, index: int) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        rt = holder.current  # read once: this request runs on this snapshot to its end
        view = rt.views[position]
        rt.in_flight.n += 1
        try:
            return await view.guard(request, view.handlers[index])
        finally:
            rt.in_flight.n -= 1

    return handle


class ListenerServer:
    """The listener at ``position`` of every snapshot, served on ``sock`` (bound by the
    runner, possibly shared with other worker processes)."""

    def __init__(
        self, holder: RuntimeHolder, position: int, sock: socket.socket, drain_timeout: float
    ) -> None:
        self.holder = holder
        self.position = position
        self.sock = sock
        view = holder.current.views[position]
        self.spec = view.spec
        self.signature = view.signature
        #: The socket's TLS (``None``: plain HTTP); reloads swap its certificate.
        self.tls = ServerTLS.of(_tls_of(holder.current, self.spec.name)) if self.spec.tls else None
        self.app = web.Application(client_max_size=self._max_body(holder.current))
        self.app.router.add_routes(
            [
                web.RouteDef(route.method, route.path, _dispatch(holder, position, i), route.kwargs)
                for i, route in enumerate(view.routes)
            ]
        )
        self.runner = EdgeRunner(
            self.app,
            edge_settings(holder.current),
            handler_cancellation=True,  # a client that leaves cancels its upstream call
            access_log=None,
            shutdown_timeout=drain_timeout,
        )

    @staticmethod
    def _max_body(runtime: Runtime) -> int:
        return int(runtime.config.gateway.max_request_body)

    async def start(self) -> None:
        await self.runner.setup()
        if self.tls is None:
            await web.SockSite(self.runner, self.sock).start()
            return
        timeout = self.holder.current.config.gateway.header_timeout
        await _TLSSite(self.runner, self.sock, self.tls, timeout).start()

    def accepts(self, runtime: Runtime) -> str | None:
        """Why ``runtime`` cannot be served by this application, or ``None``."""
        view = runtime.views[self.position]
        if view.signature != self.signature:
            return f"the routes of listener {self.spec.name!r} changed; restart plano"
        if (view.spec.tls, view.spec.mutual) != (self.spec.tls, self.spec.mutual):
            return (
                f"listener {self.spec.name!r} would turn TLS or client certificates on or off; "
                "that needs a restart (certificate files reload)"
            )
        return None

    def apply(self, runtime: Runtime) -> None:
        """Settings of the application and the edge that a reload may change: the body size
        limit aiohttp enforces, the request-head time limit and the connections per client
        (for new connections); the TLS certificate and client CA (for new handshakes)."""
        if self.tls is not None:
            self.tls.swap(_tls_of(runtime, self.spec.name))
        # aiohttp reads the limit from the application for every request it builds.
        self.app._client_max_size = self._max_body(runtime)
        server = self.runner.server
        if server is not None and hasattr(server, "edge"):
            server.edge = edge_settings(runtime)

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests within the drain timeout, close."""
        await self.runner.cleanup()
