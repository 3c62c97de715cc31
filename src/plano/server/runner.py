"""Running the gateway: bind every listener's socket, then serve them in this process (one
worker) or under a supervisor whose forked workers inherit the sockets.

With ``workers: N > 1`` the ``plano up`` process only supervises (``server/supervisor.py``):
it holds one listening socket per listener, shared by the workers (the kernel queues
connections on it; a worker that dies loses only the requests it had accepted), restarts a
worker that dies, forwards SIGTERM/SIGINT (drain) and SIGHUP (reload, once the new config
passed the same check the workers make) and, with ``--watch``, polls the config file. With
one worker, ``plano up`` serves itself, reloads itself and watches the file itself.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plano.accounting.tokens import TokenCounter
from plano.agents.lifecycle import AgentPlan
from plano.config import PlanoConfig
from plano.netutil import bind_socket
from plano.pipeline.filters import Filter
from plano.server.agent_children import AgentProcesses, agent_plan
from plano.server.gateway import Gateway
from plano.server.listeners import Listener, ListenerSpec, not_served, plan_listeners
from plano.server.reload import ConfigWatch, check_reload
from plano.server.runtime import Resources, Runtime, build_runtime
from plano.server.supervisor import Child, ChildContext, Supervisor
from plano.server.worker import WorkerOptions, run_worker
from plano.state import ResponseStore
from plano.store.setup import StateSettings

__all__ = ["BindError", "ServeOptions", "build_gateway", "gateway_listeners", "serve_forever"]

log = logging.getLogger("plano")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    #: ``plano up --host/--port``: override the first model listener's address.
    host: str | None = None
    port: int | None = None
    workers: int = 1
    drain_timeout: float = 30.0
    cache_dir: Path = Path.home() / ".cache" / "plano"
    #: Written with "host:port" once every listener accepts connections (``up -d``).
    ready_file: Path | None = None
    #: The file reloads read again; ``None``: no reloads.
    config_path: Path | None = None
    #: Reload when the config file changes (polled every second).
    watch: bool = False


class BindError(OSError):
    """A listener's address could not be bound."""

    def __init__(self, spec: ListenerSpec, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.spec = spec
        self.in_use = exc.errno == errno.EADDRINUSE


class _Owner:
    """Starts and closes a runtime and its resources with a standalone gateway app."""

    def __init__(self, resources: Resources, runtime: Runtime) -> None:
        self.resources = resources
        self.runtime = runtime

    async def start(self) -> None:
        await self.resources.start()
        await self.runtime.start()
        await self.resources.share_health(lambda: self.runtime.router)

    async def close(self) -> None:
        await self.runtime.close()
        await self.resources.close()


def build_gateway(
    config: PlanoConfig,
    counter: TokenCounter | None = None,
    response_store: ResponseStore | None = None,
    access_sink: Callable[[list[bytes]], None] | None = None,
    extra_filters: Sequence[Filter] = (),
    state: StateSettings | None = None,
) -> Gateway:
    """The first model listener of a one-snapshot runtime, as a gateway whose ``app()``
    starts and closes that runtime (tests, the demo, embedders); no sockets are opened.
    ``extra_filters`` run after the built-in ones. ``state``: where state lives (default:
    this process's memory; ``server.state_setup.state_settings(config)`` for the config's)."""
    resources = Resources.create(counter, access_sink, state)
    runtime = build_runtime(
        config,
        resources,
        plan_listeners(config),
        store=response_store,
        extra_filters=extra_filters,
    )
    gateway = runtime.model_gateway()
    gateway.lifecycle = _Owner(resources, runtime)
    return gateway


def gateway_listeners(gateway: Gateway) -> tuple[Listener, ...]:
    """Every listener of the runtime a :func:`build_gateway` gateway owns (the demo serves
    its agent listener's routes beside the gateway; they run once the gateway started)."""
    owner = gateway.lifecycle
    return owner.runtime.listeners if isinstance(owner, _Owner) else ()


def bind_listeners(specs: Sequence[ListenerSpec]) -> list[socket.socket]:
    """One listening socket per listener; all or none."""
    sockets: list[socket.socket] = []
    try:
        for spec in specs:
            try:
                sockets.append(bind_socket(spec.host, spec.port))
            except OSError as exc:
                raise BindError(spec, exc) from exc
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve_forever(config: PlanoConfig, opts: ServeOptions) -> int:
    """Bind, serve until SIGINT/SIGTERM, drain; the exit status."""
    specs = plan_listeners(config, opts.host, opts.port)
    sockets = bind_listeners(specs)
    for name in not_served(config):
        log.info("listener %s: accepted, not supported yet (not served)", name)
    # Agents with a command run under the supervisor, even beside one worker.
    managed = any(a.run is not None and a.run.managed for a in config.agents)
    procs = AgentProcesses(config, specs, opts.config_path) if managed else None
    try:
        if opts.workers <= 1 and procs is None:
            return _serve_here(config, specs, sockets, opts)
        return _supervise(config, specs, sockets, opts, procs)
    finally:
        for sock in sockets:
            sock.close()
        if procs is not None:
            procs.close()
        sys.stdout.flush()


def _worker_options(
    config: PlanoConfig,
    opts: ServeOptions,
    *,
    watch: bool,
    agents: AgentPlan | None = None,
    specs: Sequence[ListenerSpec] = (),
) -> WorkerOptions:
    if agents is None:  # agents with run: but no command are health-checked only
        agents = agent_plan(config, specs, opts.config_path)
    return WorkerOptions(
        agents=agents,
        drain_timeout=opts.drain_timeout,
        cache_dir=opts.cache_dir,
        config_path=opts.config_path,
        env=os.environ,
        host=opts.host,
        port=opts.port,
        watch=watch and (opts.watch or config.gateway.watch_config),
        workers=max(1, opts.workers),
    )


def _announce(opts: ServeOptions, specs: Sequence[ListenerSpec]) -> None:
    if opts.ready_file is not None:
        model = next(s for s in specs if s.kind == "model")
        opts.ready_file.write_text(f"{model.host}:{model.port}\n")


def _serve_here(
    config: PlanoConfig,
    specs: Sequence[ListenerSpec],
    sockets: list[socket.socket],
    opts: ServeOptions,
) -> int:
    wopts = _worker_options(config, opts, watch=True, specs=specs)
    return run_worker(config, specs, sockets, wopts, on_ready=lambda _rt: _announce(opts, specs))


class _Parent:
    """The supervisor's side of ``plano up``: the config new workers start from (a reload
    updates it before the workers are signalled), and the hooks the supervisor calls."""

    def __init__(
        self,
        config: PlanoConfig,
        specs: Sequence[ListenerSpec],
        sockets: list[socket.socket],
        opts: ServeOptions,
        procs: AgentProcesses | None = None,
    ) -> None:
        self.procs = procs
        self.config = config
        self.specs = tuple(specs)
        self.sockets = sockets
        self.opts = opts
        self.generation = 1
        #: Where the workers share their metrics (one scrape sees them all).
        self.metrics_dir = (
            Path(tempfile.mkdtemp(prefix="plano-metrics-")) if opts.workers > 1 else None
        )
        path = opts.config_path
        watching = path is not None and (opts.watch or config.gateway.watch_config)
        self.watch = ConfigWatch(path) if path is not None and watching else None

    def work(self, ctx: ChildContext) -> int:
        """A worker's life, in the forked process."""
        wopts = dataclasses.replace(
            _worker_options(
                self.config,
                self.opts,
                watch=False,
                agents=self.procs.plan if self.procs is not None else None,
                specs=self.specs,
            ),
            generation=self.generation,
            metrics_dir=self.metrics_dir,
        )
        return run_worker(
            self.config,
            self.specs,
            self.sockets,
            wopts,
            on_ready=lambda _rt: ctx.notify("ready"),
            pending=ctx.pending,
        )

    def reload(self) -> bool:
        """Check the file before the workers are asked to reload it."""
        path = self.opts.config_path
        if path is None:
            log.warning("reload asked for, but the config was not read from a file")
            return False
        opts = self.opts
        check = check_reload(path, os.environ, self.specs, self.config, opts.host, opts.port)
        if not check.log_verdict("the running config") or check.config is None:
            return False
        self.config, self.specs = check.config, check.specs
        self.generation += 1
        return True

    def changed(self) -> bool:
        return self.watch is not None and self.watch.changed()

    def ready(self) -> None:
        _announce(self.opts, self.specs)
        urls = ", ".join(f"{s.url} ({s.kind})" for s in self.specs)
        log.info(
            "plano supervisor (pid %d): %d workers serving %s", os.getpid(), self.opts.workers, urls
        )

    def stop(self) -> None:
        for sock in self.sockets:  # no worker will be forked again: stop queueing connections
            sock.close()


def _supervise(
    config: PlanoConfig,
    specs: Sequence[ListenerSpec],
    sockets: list[socket.socket],
    opts: ServeOptions,
    procs: AgentProcesses | None = None,
) -> int:
    parent = _Parent(config, specs, sockets, opts, procs)
    workers = [Child(f"worker-{i}", parent.work) for i in range(max(1, opts.workers))]
    supervisor = Supervisor(
        workers + (procs.children() if procs is not None else []),
        on_child=procs.table.record if procs is not None else None,
        drain_timeout=opts.drain_timeout,
        reload=parent.reload,
        watch=parent.changed if parent.watch is not None else None,
        on_ready=parent.ready,
        on_stop=parent.stop,
    )
    try:
        return supervisor.run()
    finally:
        if parent.metrics_dir is not None:
            shutil.rmtree(parent.metrics_dir, ignore_errors=True)
