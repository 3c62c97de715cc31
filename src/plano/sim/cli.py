"""``plano sim``: serve the simulated providers until SIGINT/SIGTERM.

The main CLI mounts :func:`add_arguments` and :func:`run`; ``python -m plano.sim`` runs them
alone. ``--workers N`` forks N processes sharing the port with SO_REUSEPORT (for benchmarks);
each worker keeps its own counters and request log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys

from plano.netutil import bind_socket
from plano.sim.faults import FAULT_KINDS
from plano.sim.options import SimOptions
from plano.sim.server import SimServer, new_event_loop

__all__ = ["add_arguments", "main", "run"]

#: Seconds a worker may take to close its connections after SIGINT/SIGTERM.
STOP_TIMEOUT = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port (0 picks a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering")
    parser.add_argument(
        "--tps", type=float, default=0.0, help="stream pace in tokens per second (0: unpaced)"
    )
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per answer")
    parser.add_argument("--cached-tokens", type=int, default=0, help="prompt tokens cache-read")
    parser.add_argument(
        "--fault", choices=sorted(FAULT_KINDS), default="none", help="fault to inject"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=1.0, help="probability that the fault applies"
    )
    parser.add_argument("--fault-after", type=int, default=0, help="first N requests succeed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429, seconds")
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="latency of the slow fault")
    parser.add_argument("--name", default="", help="provider label used in text and ids")
    parser.add_argument(
        "--no-auth", action="store_true", help="accept requests without API-key headers"
    )
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def _options(args: argparse.Namespace) -> SimOptions:
    return SimOptions(
        latency_ms=args.latency_ms,
        tokens_per_second=args.tps,
        output_tokens=args.tokens,
        cached_tokens=args.cached_tokens,
        fault=args.fault,
        fault_rate=args.fault_rate,
        fault_after=args.fault_after,
        seed=args.seed,
        retry_after=args.retry_after,
        slow_ms=args.slow_ms,
        name=args.name,
        require_auth=not args.no_auth,
    )


async def _serve(options: SimOptions, sock: socket.socket) -> None:
    sim = SimServer(options, sock=sock)
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)  # a second signal ends the process at once
        await asyncio.wait_for(sim.stop(), timeout=STOP_TIMEOUT)


def _serve_in_process(options: SimOptions, sock: socket.socket) -> None:
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(options, sock))
    finally:
        loop.close()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 2 when the options are invalid."""
    try:
        options = _options(args)
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
        sock = bind_socket(args.host, args.port, reuse_port=args.workers > 1)
    except (ValueError, OSError) as exc:
        print(f"plano sim: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    children: list[int] = []
    for _ in range(args.workers - 1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                sock.close()
                _serve_in_process(options, bind_socket(args.host, port, reuse_port=True))
                code = 0
            finally:
                os._exit(code)  # never return into the parent's loop
        children.append(pid)
    if not args.quiet:
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"plano sim listening on http://{host}:{port} ({args.workers} worker(s))", flush=True)
    try:
        _serve_in_process(options, sock)
    finally:
        sock.close()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="plano sim", description="Serve simulated LLM providers until SIGINT/SIGTERM."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
