"""The simulated provider on a real socket: start, stop, run in a thread.

The request handling lives in :mod:`plano.sim.app`; this module owns the aiohttp runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web, web_server
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from plano.sim.app import RecordedRequest, SimApp, SimStats
from plano.sim.options import SimOptions

__all__ = ["MAX_BODY", "SimServer", "new_event_loop"]

#: Largest accepted request body; long-context tests send big prompts.
MAX_BODY = 64 * 1024 * 1024


class SimServer:
    """A simulated provider listening on ``host:port`` (port 0 picks a free one).

    ::

        async with SimServer(SimOptions(output_tokens=8)) as sim:
            client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x")

        with SimServer.in_thread(SimOptions(fault="429")) as sim:  # for sync tests
            ...
    """

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = 1000,
        sock: socket.socket | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._sock = sock
        self._options = options or SimOptions()
        self._history = history
        self._app: SimApp | None = None
        self._runner: web.BaseRunner | None = None

    @property
    def app(self) -> SimApp:
        if self._app is None:
            raise RuntimeError("the server is not started")
        return self._app

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def options(self) -> SimOptions:
        return self._app.options if self._app is not None else self._options

    def set_options(self, options: SimOptions | None = None, /, **changes: Any) -> SimOptions:
        """Replace the options with ``options`` (default: the current ones) plus ``changes``.

        The fault plan starts over: the seed is reapplied and ``fault_after`` counts anew.
        """
        new = dataclasses.replace(options or self.options, **changes)
        self._options = new
        if self._app is not None:
            self._app.set_options(new)
        return new

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last received requests (at most ``history``), oldest first."""
        return self.app.requests

    @property
    def stats(self) -> SimStats:
        return self.app.stats

    def reset(self) -> None:
        """Forget the recorded requests and the counters."""
        self.app.reset()

    async def start(self) -> None:
        self._app = SimApp(self._options, self._history)
        loop = asyncio.get_running_loop()

        def make_request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> web.BaseRequest:
            return web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY
            )

        server = web_server.Server(
            self._app.handle,
            request_factory=make_request,
            handler_cancellation=True,  # a client that leaves cancels its request
            access_log=None,
        )
        self._runner = runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site: web.BaseSite
        if self._sock is not None:
            site = web.SockSite(runner, self._sock)
        else:
            site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Release hanging requests, close connections and the listener."""
        if self._runner is None:
            return
        self.app.close()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls, options: SimOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> Iterator[SimServer]:
        """Run a server on its own event loop in a daemon thread, for synchronous code."""
        sim = cls(options, host=host, port=port)
        loop = new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="plano-sim", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(sim.start(), loop).result(timeout=10)
            try:
                yield sim
            finally:
                asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
