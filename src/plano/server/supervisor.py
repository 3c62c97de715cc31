"""A parent process that only supervises (after uvicorn's ``supervisors/multiprocess.py`` and
gunicorn's arbiter).

The runner binds the listening sockets, then hands the :class:`Supervisor` a list of
:class:`Child` specs. The supervisor forks each child (workers inherit the sockets), restarts
one that dies (exponential backoff, its exit status logged; a crash loop is bounded and stops
everything with status 1), forwards SIGTERM/SIGINT (children drain; the parent waits, then
exits 0) and SIGHUP (reload, after the ``reload`` check passed), and polls an optional watch
every second. It never serves a request.

Children need not be workers: a :class:`Child` is a name, a function run in the forked
process (which may ``exec`` another program, such as an agent), a restart policy and whether
it takes the reload signal.

A forked child starts with the parent's signal handlers replaced: SIGTERM, SIGINT and SIGHUP
received before it installs its own are recorded in :attr:`ChildContext.pending` (so a
reload or a stop that races a restart is not lost), SIGCHLD is back to its default.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Child", "ChildContext", "RestartPolicy", "Supervisor", "describe_exit"]

log = logging.getLogger("plano.supervisor")

_STOP = (signal.SIGTERM, signal.SIGINT)
_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
#: Seconds a stopping child gets beyond the drain timeout before it is killed.
_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Exponential backoff between restarts; more than ``max_failures`` exits within
    ``window`` seconds is a crash loop. Pure."""

    initial: float = 0.1
    factor: float = 2.0
    max_delay: float = 10.0
    max_failures: int = 5
    window: float = 60.0

    def delay(self, failures: int) -> float | None:
        """Seconds before the next start after ``failures`` recent exits; ``None``: give up."""
        if failures > self.max_failures:
            return None
        return min(self.max_delay, self.initial * self.factor ** max(failures - 1, 0))


@dataclass(slots=True)
class ChildContext:
    """What a child's function gets, in the forked process."""

    name: str
    #: SIGTERM / SIGINT / SIGHUP that arrived before the child installed its own handlers.
    pending: list[int]
    _notify_fd: int

    def notify(self, message: str) -> None:
        """Tell the supervisor something (``ready``); one short line."""
        with contextlib.suppress(OSError):
            os.write(self._notify_fd, f"{message} {os.getpid()}\n".encode())


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    #: Runs in the forked process; its return value is the exit status.
    run: Callable[[ChildContext], int]
    restart: Literal["always", "on-failure", "never"] = "always"
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    #: Whether SIGHUP is forwarded to it (workers reload; other children may not).
    reloads: bool = True
    #: Whether the supervisor waits for its ``ready`` before calling ``on_ready``.
    reports_ready: bool = True
    #: On a crash loop: stop everything (workers) or leave this child down (agents).
    crash_loop: Literal["stop", "give-up"] = "stop"
    #: Seconds between SIGTERM and SIGKILL on stop (``None``: the drain timeout + grace).
    stop_timeout: float | None = None


@dataclass(slots=True)
class _Slot:
    child: Child
    pid: int | None = None
    ready: bool = False
    restart_at: float | None = None
    exits: deque[float] = field(default_factory=deque)
    #: When stopping: when it gets SIGKILL.
    kill_at: float | None = None


def describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code}"


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        *,
        drain_timeout: float,
        reload: Callable[[], bool] | None = None,
        watch: Callable[[], bool] | None = None,
        on_ready: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
        on_child: Callable[[str, str, int | None, str], None] | None = None,
    ) -> None:
        """``reload`` checks a reload (it logs why not) before SIGHUP is forwarded; ``watch``
        is polled every second and asks for a reload when true; ``on_ready`` runs once every
        child reported ready the first time; ``on_stop`` when stopping starts (the runner
        closes its listening sockets there: no child will be forked again); ``on_child``
        hears each child's ``(name, event, pid, detail)``: ``started``, ``exited``,
        ``restarting``, ``crash-loop``, ``stopped`` (the agents' status file)."""
        self.slots = [_Slot(c) for c in children]
        self.drain_timeout = drain_timeout
        self._reload = reload
        self._watch = watch
        self._on_ready = on_ready
        self._on_stop = on_stop
        self._on_child = on_child
        self._stopping = False
        self._killed = False
        self._status = 0
        self._announced = False
        self._wake_r = self._wake_w = self._note_r = self._note_w = -1
        self._notes = b""

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        """Start the children and supervise until they have all stopped; the exit status."""
        self._setup()
        try:
            for slot in self.slots:
                self._spawn(slot)
            next_watch = time.monotonic() + 1.0
            while True:
                now = time.monotonic()
                if self._watch is not None and now >= next_watch and not self._stopping:
                    next_watch = now + 1.0
                    if self._watch():
                        log.info("config file changed; reloading")
                        self._reload_children()
                due = self._next_due(now)
                if self._watch is not None:
                    due = min(due, next_watch)
                self._wait(due - now)
                self._handle_signals()
                self._read_notes()
                self._reap()
                if self._stopping:
                    if not self._alive():
                        break
                    self._kill_due(time.monotonic())
                else:
                    self._restart_due()
                    if not self._alive() and all(s.restart_at is None for s in self.slots):
                        log.info("no process left to supervise")
                        break
        finally:
            self._teardown()
        return self._status

    def _setup(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        self._note_r, self._note_w = os.pipe()
        for fd in (self._wake_r, self._wake_w, self._note_r):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in _HANDLED:
            # A Python-level handler makes the C handler write the signal number to the
            # wakeup pipe; the loop reads the numbers from there.
            signal.signal(sig, _ignore)

    def _teardown(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        for fd in (self._wake_r, self._wake_w, self._note_r, self._note_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wait(self, timeout: float) -> None:
        with contextlib.suppress(InterruptedError):
            select.select([self._wake_r, self._note_r], [], [], max(timeout, 0.0))

    def _next_due(self, now: float) -> float:
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        if self._stopping and not self._killed:
            due += [s.kill_at for s in self.slots if s.kill_at is not None and s.pid is not None]
        return min([now + 1.0, *due])

    def _alive(self) -> bool:
        return any(s.pid is not None for s in self.slots)

    # ------------------------------------------------------------------ signals

    def _handle_signals(self) -> None:
        try:
            data = os.read(self._wake_r, 512)
        except BlockingIOError:
            return
        for num in data:
            if num in _STOP:
                self._stop(signal.Signals(num).name)
            elif num == signal.SIGHUP and not self._stopping:
                log.info("SIGHUP: reloading the config")
                self._reload_children()

    def _reload_children(self) -> None:
        if self._reload is not None and not self._reload():
            return
        targets = [s for s in self.slots if s.pid is not None and s.child.reloads]
        for slot in targets:
            self._signal(slot, signal.SIGHUP)
        log.info("reload signalled to %d worker(s)", len(targets))

    def _stop(self, why: str) -> None:
        if self._stopping:
            if not self._killed:
                log.warning("%s again: stopping now", why)
                self._kill_remaining()
            return
        self._stopping = True
        now = time.monotonic()
        log.info("%s: draining %d process(es)", why, sum(s.pid is not None for s in self.slots))
        for slot in self.slots:
            slot.restart_at = None
            grace = slot.child.stop_timeout
            slot.kill_at = now + (self.drain_timeout + _GRACE if grace is None else grace)
            self._signal(slot, signal.SIGTERM)
        if self._on_stop is not None:
            self._on_stop()

    def _kill_due(self, now: float) -> None:
        for slot in self.slots:
            if slot.pid is not None and slot.kill_at is not None and now >= slot.kill_at:
                slot.kill_at = None
                log.warning(
                    "%s (pid %d) did not stop in time; killing it", slot.child.name, slot.pid
                )
                self._signal(slot, signal.SIGKILL)

    def _kill_remaining(self) -> None:
        self._killed = True
        for slot in self.slots:
            if slot.pid is not None:
                log.warning(
                    "%s (pid %d) did not stop in time; killing it", slot.child.name, slot.pid
                )
                self._signal(slot, signal.SIGKILL)

    @staticmethod
    def _signal(slot: _Slot, sig: int) -> None:
        if slot.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, sig)

    # ------------------------------------------------------------------ children

    def _spawn(self, slot: _Slot) -> None:
        slot.restart_at = None
        slot.ready = False
        # Signals stay blocked across the fork, so the child installs its own handlers
        # before any can reach it (a SIGTERM would otherwise land in the parent's pipe).
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child (tested end to end)
                self._child(slot.child)
            slot.pid = pid
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        log.info("%s started (pid %d)", slot.child.name, pid)
        self._tell(slot, "started", pid, "")

    def _child(self, child: Child) -> None:  # pragma: no cover - runs in the child
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            pending: list[int] = []
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, lambda num, _frame: pending.append(num))
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (self._wake_r, self._wake_w, self._note_r):
                os.close(fd)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            code = child.run(ChildContext(child.name, pending, self._note_w))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("%s failed", child.name)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _read_notes(self) -> None:
        try:
            self._notes += os.read(self._note_r, 4096)
        except BlockingIOError:
            return
        *lines, self._notes = self._notes.split(b"\n")
        for line in lines:
            what, _, pid = line.decode(errors="replace").partition(" ")
            slot = next((s for s in self.slots if str(s.pid) == pid), None)
            if what == "ready" and slot is not None:
                slot.ready = True
                if self._announced:
                    log.info("%s ready (pid %s)", slot.child.name, pid)
        if not self._announced and all(s.ready for s in self.slots if s.child.reports_ready):
            self._announced = True
            if self._on_ready is not None:
                self._on_ready()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except OSError as exc:  # pragma: no cover
                if exc.errno == errno.EINTR:
                    continue
                raise
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is not None:
                self._exited(slot, status)

    def _exited(self, slot: _Slot, status: int) -> None:
        name, pid = slot.child.name, slot.pid
        slot.pid = None
        how = describe_exit(status)
        if self._stopping:
            log.info("%s (pid %s) %s", name, pid, how)
            self._tell(slot, "stopped", pid, how)
            return
        code = os.waitstatus_to_exitcode(status)
        restart = slot.child.restart
        if restart == "never" or (restart == "on-failure" and code == 0):
            log.info("%s (pid %s) %s; not restarting it", name, pid, how)
            self._tell(slot, "exited", pid, how)
            return
        now = time.monotonic()
        policy = slot.child.policy
        slot.exits.append(now)
        while slot.exits and now - slot.exits[0] > policy.window:
            slot.exits.popleft()
        delay = policy.delay(len(slot.exits))
        if delay is None and slot.child.crash_loop == "give-up":
            log.error(
                "%s (pid %s) %s: %d exits within %.0f s is a crash loop; leaving it down",
                name,
                pid,
                how,
                len(slot.exits),
                policy.window,
            )
            self._tell(slot, "crash-loop", pid, how)
            return
        if delay is None:
            log.error(
                "%s (pid %s) %s: %d exits within %.0f s is a crash loop; stopping plano",
                name,
                pid,
                how,
                len(slot.exits),
                policy.window,
            )
            self._status = 1
            self._stop("crash loop")
            return
        log.warning("%s (pid %s) %s; restarting it in %.1f s", name, pid, how, delay)
        slot.restart_at = now + delay
        self._tell(slot, "restarting", pid, how)

    def _tell(self, slot: _Slot, event: str, pid: int | None, detail: str) -> None:
        if self._on_child is not None:
            try:
                self._on_child(slot.child.name, event, pid, detail)
            except Exception:
                log.exception("reporting %s of %s failed", event, slot.child.name)

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.pid is None and slot.restart_at is not None and slot.restart_at <= now:
                self._spawn(slot)


def _ignore(_signum: int, _frame: object) -> None:
    return None
