"""One serving process: the runtime and its listeners, on sockets the runner bound.

It builds the first snapshot, serves every listener, reloads on SIGHUP (and, alone, on a
change of the config file with ``--watch``), and on SIGINT/SIGTERM stops accepting, lets
in-flight requests finish within ``drain_timeout`` and exits. The same code runs in the
``plano up`` process itself (one worker) and in each child of the supervisor.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from plano.accounting.ledger import stderr_sink
from plano.accounting.tokens import TokenCounter
from plano.agents.lifecycle import AgentPlan
from plano.config import PlanoConfig
from plano.server.agents_api import start_agents
from plano.server.listeners import ListenerSpec
from plano.server.reload import ConfigWatch, Reloader
from plano.server.runtime import Resources, Runtime, RuntimeHolder, build_runtime
from plano.server.serving import ListenerServer
from plano.server.state_setup import state_settings

__all__ = ["GC_THRESHOLD", "WorkerOptions", "run_worker", "serve"]

log = logging.getLogger("plano")

#: Allocations between young-generation collections (Python's default is 700).
GC_THRESHOLD = 300_000


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    drain_timeout: float = 30.0
    cache_dir: Path = Path.home() / ".cache" / "plano"
    #: The file a reload reads again; ``None``: no reloads.
    config_path: Path | None = None
    #: The environment ``$VAR``s of a reloaded config are expanded from.
    env: Mapping[str, str] | None = None
    #: ``plano up --host/--port``: they override the first model listener's, on reload too.
    host: str | None = None
    port: int | None = None
    #: Poll the config file every second (a supervisor polls it for its workers).
    watch: bool = False
    #: The first snapshot's generation (a restarted worker continues its parent's count).
    generation: int = 1
    #: Worker processes of the gateway (this one included): where state lives depends on it.
    workers: int = 1
    #: Agents with ``run:`` (their health is checked here: ``agents/lifecycle_health.py``).
    agents: AgentPlan | None = None
    #: Where the workers of one ``plano up`` share metrics (``None``: this process alone).
    metrics_dir: Path | None = None


async def serve(
    config: PlanoConfig,
    specs: Sequence[ListenerSpec],
    sockets: Sequence[socket.socket],
    opts: WorkerOptions,
    *,
    on_ready: Callable[[Runtime], None] | None = None,
    pending: Sequence[int] = (),
) -> None:
    """Serve until SIGINT/SIGTERM, then drain. ``pending``: signals received before this
    function could handle them (a worker's first moments)."""
    # Encodings load on first use, off the loop (most requests never count tokens).
    counter = TokenCounter(opts.cache_dir / "tiktoken")
    # The access log goes to stderr as JSON lines, one write per batch (when it is enabled).
    sink = stderr_sink if logging.getLogger("plano.access").isEnabledFor(logging.INFO) else None
    resources = Resources.create(counter, sink, state_settings(config, opts.workers))
    resources.metrics.share_with(opts.metrics_dir, config.metrics.publish_interval)
    agents = start_agents(config, resources, opts.agents)
    holder = RuntimeHolder(build_runtime(config, resources, specs, generation=opts.generation))
    servers = [
        ListenerServer(holder, i, sock, opts.drain_timeout) for i, sock in enumerate(sockets)
    ]
    await resources.start()
    await holder.current.start()
    await resources.share_health(lambda: holder.current.router)
    await agents.start()
    for server in servers:
        await server.start()
    _tune_gc()
    resources.state = "ready"

    reloader = None
    if opts.config_path is not None:
        env = opts.env if opts.env is not None else {}
        reloader = Reloader(holder, resources, servers, opts.config_path, env, opts.host, opts.port)
    stop = _signals(reloader, pending)
    watching = None
    if opts.watch and reloader is not None:
        watch = ConfigWatch(reloader.path)
        watching = asyncio.get_running_loop().create_task(_watch(watch, reloader))
    await agents.ready()  # managed agents healthy (or their start time-out) before "ready"
    _listening(servers, holder.current)
    if on_ready is not None:
        on_ready(holder.current)

    await stop.wait()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.drain_timeout
    resources.state = "draining"
    log.info("draining %d in-flight request(s)", holder.current.in_flight.n)
    if watching is not None:
        watching.cancel()
    await asyncio.gather(*(server.stop() for server in servers))
    # Each step is bounded and named: a stuck close (a store that stopped answering) must
    # not keep the process past its drain time, and the log says which step it was.
    if reloader is not None:
        await _bounded("config reloader", reloader.close(), _CLOSE_STEP)
    await _bounded("agent health checks", agents.close(), _CLOSE_STEP)
    await _bounded("runtime snapshot", holder.current.close(), _CLOSE_STEP)
    # The usage records still queued get what is left of the drain time (at least a second).
    within = max(1.0, deadline - loop.time())
    await _bounded("stores and writers", resources.close(within=within), within + _CLOSE_STEP)
    log.info("stopped")


#: Seconds each shutdown step may take beyond its own bound.
_CLOSE_STEP = 5.0


async def _bounded(name: str, step: Awaitable[None], within: float) -> None:
    try:
        async with asyncio.timeout(within):
            await step
    except TimeoutError:
        log.warning("shutdown: %s did not finish within %.0f s; stopping anyway", name, within)


def _signals(reloader: Reloader | None, pending: Sequence[int]) -> asyncio.Event:
    """SIGINT/SIGTERM set the returned event; SIGHUP reloads. Signals that arrived before
    count as if they arrived now."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if reloader is not None:
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
    for num in pending:
        if num == signal.SIGHUP and reloader is not None:
            reloader.request()
        elif num in (signal.SIGINT, signal.SIGTERM):
            stop.set()
    return stop


def _listening(servers: Sequence[ListenerServer], runtime: Runtime) -> None:
    for server in servers:
        log.info(
            "plano listening on %s (%s listener %r, pid %d, generation %d)",
            server.spec.url,
            server.spec.kind,
            server.spec.name,
            os.getpid(),
            runtime.generation,
        )


async def _watch(watch: ConfigWatch, reloader: Reloader) -> None:
    while True:
        await asyncio.sleep(1.0)
        if watch.changed():
            log.info("config file %s changed; reloading", watch.path)
            reloader.request()


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path. Start-up leaves hundreds of
    thousands of long-lived objects (the price catalogue, pydantic models, aiohttp); frozen,
    full collections no longer walk them. Requests free their objects by reference counting,
    so collections can also run less often: at 178 KB agent prompts, collections under the
    default thresholds cost more CPU than parsing the prompt. (The first snapshot is frozen
    with them: after a reload, its cyclic leftovers stay; later snapshots are collected.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def run_worker(
    config: PlanoConfig,
    specs: Sequence[ListenerSpec],
    sockets: Sequence[socket.socket],
    opts: WorkerOptions,
    *,
    on_ready: Callable[[Runtime], None] | None = None,
    pending: Sequence[int] = (),
) -> int:
    """Serve on uvloop until stopped; the exit status."""
    main = serve(config, specs, sockets, opts, on_ready=on_ready, pending=pending)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main)
    else:
        uvloop.run(main)
    return 0
