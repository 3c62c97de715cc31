"""Running the gateway: build the runtime from a validated config, serve on uvloop, drain on
SIGINT/SIGTERM, and fork worker processes that share the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from plano.accounting.filter import AccountingFilter
from plano.accounting.ledger import Ledger, stderr_sink
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig
from plano.core.redact import SecretScrubber
from plano.netutil import bind_socket
from plano.pipeline.filters import Filter, FilterChain
from plano.providers.transport import Timeouts, UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.routing.preference import EmbeddingRouteChooser, LLMRouteChooser
from plano.routing.setup import context_window_lookup, router_from_config
from plano.routing.smart import SmartRouter
from plano.server.admin import admin_routes
from plano.server.edge import EdgeRunner, EdgeSettings, HostPolicy, guard_middleware
from plano.server.gateway import Gateway, GatewaySettings
from plano.server.relay import StreamLimits
from plano.server.router_client import GatewayModelCaller
from plano.server.routing_api import status_routes
from plano.server.shape_routes import count_tokens_routes, responses_routes
from plano.state import ResponsesStateFilter, ResponseStore
from plano.state.setup import store_from_config

__all__ = ["ServeOptions", "build_gateway", "serve", "serve_forever"]

log = logging.getLogger("plano")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    workers: int = 1
    drain_timeout: float = 30.0
    cache_dir: Path = Path.home() / ".cache" / "plano"
    #: Written with "host:port" once the listener accepts connections (used by ``up -d``).
    ready_file: Path | None = None


def model_listener(config: PlanoConfig) -> tuple[str, int, float]:
    for lst in config.listeners:
        if lst.type == "model":
            return lst.address or "127.0.0.1", lst.port, float(lst.timeout or 300.0)
    return "127.0.0.1", 12000, 300.0


def build_gateway(
    config: PlanoConfig,
    counter: TokenCounter | None = None,
    response_store: ResponseStore | None = None,
    access_sink: Callable[[list[bytes]], None] | None = None,
    extra_filters: Sequence[Filter] = (),
) -> Gateway:
    """The runtime objects for a validated config; no sockets are opened here. Responses API
    state lives in ``response_store``, else in the store ``state_storage`` names;
    ``extra_filters`` run after the built-in ones."""
    g = config.gateway
    _host, _port, timeout = model_listener(config)
    catalog = ModelCatalog(config.model_providers, config.model_aliases)
    pool = UpstreamPool(
        Timeouts(connect=g.connect_timeout, first_byte=g.first_byte_timeout),
        scrubber=SecretScrubber.from_catalog(catalog),  # provider errors echo keys
    )
    ledger = Ledger(sink=access_sink)
    counter = counter or TokenCounter()
    store = response_store or store_from_config(config.state_storage)
    prices = PriceBook()
    accounting = AccountingFilter(ledger, prices, counter)
    chain = FilterChain([accounting, ResponsesStateFilter(store), *extra_filters])
    router = router_from_config(
        config, catalog, prices, counter.count_request_async, windows=context_window_lookup()
    )
    if isinstance(router.chooser, LLMRouteChooser):
        router.chooser.complete = GatewayModelCaller(router, pool, chain).complete
    f = config.fallback
    settings = GatewaySettings(
        max_body=g.max_request_body,
        max_in_flight=g.max_in_flight,
        request_timeout=timeout,
        body_timeout=g.body_timeout,
        stream_limits=StreamLimits(f.first_token_timeout, f.stream_idle_timeout),
    )
    routes = admin_routes(ledger, chain) + count_tokens_routes(counter) + responses_routes(store)
    routes += status_routes(router.status)
    return Gateway(settings, catalog, pool, chain, routes, router)


def _load_route_embeddings(
    loop: asyncio.AbstractEventLoop, gateway: Gateway
) -> asyncio.Future[None]:
    """Embed the routes in a thread (~0.3 s); until then requests take the default route."""
    router = gateway.router
    chooser = router.chooser if isinstance(router, SmartRouter) else None
    if not isinstance(chooser, EmbeddingRouteChooser):
        done: asyncio.Future[None] = loop.create_future()
        done.set_result(None)
        return done

    def load() -> None:
        try:
            chooser.load()
        except Exception:
            log.exception("could not load the embedding router; using default routes")

    return loop.run_in_executor(None, load)


async def serve(config: PlanoConfig, opts: ServeOptions, sock: socket.socket) -> None:
    """Serve until SIGINT/SIGTERM, then stop accepting and drain in-flight requests."""
    # Encodings load on first use, off the loop (most requests never count tokens).
    counter = TokenCounter(opts.cache_dir / "tiktoken")
    loop = asyncio.get_running_loop()
    # The access log goes to stderr as JSON lines, one write per batch (when it is enabled).
    sink = stderr_sink if logging.getLogger("plano.access").isEnabledFor(logging.INFO) else None
    gateway = build_gateway(config, counter, access_sink=sink)
    routes_loading = _load_route_embeddings(loop, gateway)
    g = config.gateway
    app = gateway.app()
    app.middlewares.append(
        guard_middleware(
            HostPolicy.build(opts.host, g.allowed_hosts, g.allowed_origins, g.admin_key)
        )
    )
    runner = EdgeRunner(
        app,
        EdgeSettings(g.header_timeout, g.max_connections_per_client),
        handler_cancellation=True,  # a client that leaves cancels its upstream call
        access_log=None,
        shutdown_timeout=opts.drain_timeout,
    )
    await runner.setup()
    _tune_gc()
    site = web.SockSite(runner, sock)
    await site.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if opts.ready_file is not None:
        opts.ready_file.write_text(f"{opts.host}:{opts.port}\n")
    log.info("plano listening on http://%s:%d (pid %d)", opts.host, opts.port, os.getpid())
    await stop.wait()
    log.info("draining %d in-flight request(s)", gateway.in_flight)
    with contextlib.suppress(Exception):
        await routes_loading
    await runner.cleanup()
    log.info("stopped")


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path. Start-up leaves hundreds of
    thousands of long-lived objects (the price catalogue, pydantic models, aiohttp); frozen,
    full collections no longer walk them. Requests free their objects by reference counting,
    so collections can also run less often: at 178 KB agent prompts, collections under the
    default thresholds cost more CPU than parsing the prompt."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


#: Allocations between young-generation collections (Python's default is 700).
GC_THRESHOLD = 300_000


def _run_worker(config: PlanoConfig, opts: ServeOptions, sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.run(serve(config, opts, sock))
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(serve(config, opts, sock))


def serve_forever(config: PlanoConfig, opts: ServeOptions) -> int:
    """Bind, fork ``workers - 1`` children that share the port, serve, reap children."""
    reuse = opts.workers > 1
    if reuse:
        # SO_REUSEPORT would let these workers share the port with another running gateway
        # (both answering, at random): bind it alone first to prove nobody else holds it.
        bind_socket(opts.host, opts.port).close()
    sock = bind_socket(opts.host, opts.port, reuse_port=reuse)
    children: list[int] = []
    for _ in range(opts.workers - 1):
        pid = os.fork()
        if pid == 0:
            # Each worker gets its own socket on the same port; the kernel balances accepts.
            sock.close()
            child = dataclasses.replace(opts, ready_file=None)
            _run_worker(config, child, bind_socket(opts.host, opts.port, reuse_port=True))
            os._exit(0)
        children.append(pid)
    try:
        _run_worker(config, opts, sock)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sys.stdout.flush()
    return 0
