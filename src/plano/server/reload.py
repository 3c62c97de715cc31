"""Hot reload: check a new config, build its snapshot, swap it in, retire the old one.

``plano reload`` and SIGHUP (and, with ``--watch`` / ``gateway.watch_config``, a change of
the file) ask for a reload. :func:`check_reload` reads and validates the file with the same
function as ``plano validate``, and refuses what a running process cannot change (a
listener's address or port: its socket is bound once). :class:`Reloader` builds the new
snapshot, swaps it in, and closes the old one once the requests it serves have finished.
An invalid or refused config is logged with its issues, and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from plano.config import ConfigIssue, PlanoConfig, check_config_file
from plano.errors import ConfigError
from plano.server.listeners import ListenerSpec, plan_listeners
from plano.server.runtime import Resources, Runtime, RuntimeHolder, build_runtime
from plano.server.serving import ListenerServer
from plano.server.state_setup import state_changes

__all__ = [
    "ConfigWatch",
    "ReloadCheck",
    "Reloader",
    "check_reload",
    "listener_changes",
    "restart_only_changes",
]

log = logging.getLogger("plano.reload")

#: Gateway settings a running process keeps until it restarts (a reload logs them).
_RESTART_ONLY = ("workers", "drain_timeout", "watch_config")


@dataclass(frozen=True, slots=True)
class ReloadCheck:
    """The verdict on a new config file."""

    path: Path
    config: PlanoConfig | None
    specs: tuple[ListenerSpec, ...]
    #: Every issue of the file, errors first (as ``plano validate`` prints them).
    issues: tuple[ConfigIssue, ...]
    #: Changes a reload cannot make (they need a restart): the reload is refused.
    refusals: tuple[str, ...] = ()
    #: Settings whose change takes effect at the next restart.
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors and not self.refusals

    def problems(self) -> list[str]:
        """Why the reload is refused, one line each."""
        return [str(i) for i in self.errors] + list(self.refusals)

    def log_verdict(self, keeps: str) -> bool:
        """Log why the reload is refused (``keeps``: what keeps serving) or what it leaves
        for a restart; whether it may go on."""
        if not self.ok:
            problems = self.problems()
            log.error(
                "reload of %s refused (%d problem(s)); %s keeps serving:\n%s",
                self.path,
                len(problems),
                keeps,
                "\n".join(f"  - {p}" for p in problems),
            )
            return False
        for note in self.notes:
            log.warning("reload: %s", note)
        return True


def check_reload(
    path: Path,
    env: Mapping[str, str],
    current: Sequence[ListenerSpec],
    old: PlanoConfig,
    host: str | None = None,
    port: int | None = None,
) -> ReloadCheck:
    """Read and validate ``path`` (as ``plano validate`` does) and compare its listeners with
    the ones being served (``host``/``port``: the ``plano up`` overrides)."""
    try:
        config, issues = check_config_file(path, env)
    except ConfigError as exc:
        return ReloadCheck(path, None, (), (ConfigIssue("", exc.message),))
    if config is None or any(i.severity == "error" for i in issues):
        return ReloadCheck(path, None, (), tuple(issues))
    specs = plan_listeners(config, host, port)
    return ReloadCheck(
        path,
        config,
        specs,
        tuple(issues),
        tuple(listener_changes(current, specs)),
        tuple(restart_only_changes(old, config)),
    )


def _where(spec: ListenerSpec) -> str:
    return f"{spec.kind} listener {spec.name!r} on {spec.host}:{spec.port}"


def listener_changes(old: Sequence[ListenerSpec], new: Sequence[ListenerSpec]) -> list[str]:
    """Listener changes only a restart can make (sockets are bound once)."""
    before = {s.name: s for s in old}
    after = {s.name: s for s in new}
    out: list[str] = []
    for name, spec in before.items():
        if name not in after:
            out.append(f"{_where(spec)} would be removed")
        elif after[name].binding() != spec.binding():
            moved = after[name]
            out.append(f"{_where(spec)} would move to {moved.kind} {moved.host}:{moved.port}")
    out += [f"{_where(spec)} would be added" for name, spec in after.items() if name not in before]
    lines = [f"{line}: listener addresses and ports change only on restart" for line in out]
    for name, spec in before.items():
        later = after.get(name)
        if later is not None and (later.tls, later.mutual) != (spec.tls, spec.mutual):
            lines.append(
                f"{_where(spec)} would turn TLS or client certificates on or off: that needs "
                "a restart (changed certificate files reload)"
            )
    return lines


def restart_only_changes(old: PlanoConfig, new: PlanoConfig) -> list[str]:
    """Settings a reload leaves for the next restart: some of ``gateway``, and where state
    lives (``state``, ``routing.session_cache``: the stores are opened once per process)."""
    out = []
    for key in _RESTART_ONLY:
        a, b = getattr(old.gateway, key), getattr(new.gateway, key)
        if a != b:
            out.append(f"gateway.{key} changed ({a} -> {b}); it takes effect on restart")
    return out + state_changes(old, new)


class ConfigWatch:
    """Notices a changed config file (``--watch``): :meth:`changed` is cheap to call every
    second (a ``stat``) and reads the file only when its size, time or inode changed; it is
    true once per change of content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stat = self._signature()
        self._digest = self._hash()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # being replaced, or gone: wait for it to come back
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _hash(self) -> bytes | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return None

    def changed(self) -> bool:
        sig = self._signature()
        if sig is None or sig == self._stat:
            return False
        self._stat = sig
        digest = self._hash()
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        return True


class Reloader:
    """Reloads one process's runtime from its config file. :meth:`request` (a signal, the
    watch) starts a reload, or queues one more if a reload is running."""

    def __init__(
        self,
        holder: RuntimeHolder,
        resources: Resources,
        servers: Sequence[ListenerServer],
        path: Path,
        env: Mapping[str, str],
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.holder = holder
        self.resources = resources
        self.servers = servers
        self.path = path
        self.env = env
        self.host = host
        self.port = port
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._retiring: asyncio.Task[None] | None = None

    def request(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.reload()
            except Exception:
                log.exception("reload failed; generation %d keeps serving", self.generation)

    @property
    def generation(self) -> int:
        return self.holder.current.generation

    async def reload(self) -> Runtime | None:
        """One reload; the new snapshot, or ``None`` when the old one keeps serving."""
        current = self.holder.current
        specs = tuple(v.spec for v in current.views)
        loop = asyncio.get_running_loop()
        check = await loop.run_in_executor(
            None, check_reload, self.path, self.env, specs, current.config, self.host, self.port
        )
        if not check.log_verdict(f"generation {current.generation}") or check.config is None:
            return None
        new = build_runtime(
            check.config,
            self.resources,
            check.specs,
            generation=current.generation + 1,
            previous=current,
        )
        refused = next((r for s in self.servers if (r := s.accepts(new))), None)
        if refused is not None:
            log.error("reload refused: %s; generation %d keeps serving", refused, self.generation)
            await new.close(successor=current)
            return None
        try:
            await new.start()
        except Exception:
            await new.close(successor=current)
            raise
        new.take_over(current)
        self.holder.swap(new)
        for server in self.servers:
            server.apply(new)
        carried = new.carried
        self._audit(new)
        log.info(
            "config reloaded: generation %d (pid %d); routing state kept for %d deployment(s), "
            "dropped for %d",
            new.generation,
            os.getpid(),
            len(carried.deployments) if carried else 0,
            len(carried.dropped) if carried else 0,
        )
        self._retire(current, new)
        return new

    def _audit(self, new: Runtime) -> None:
        """The reload, in the audit trail: one event per host and generation, however many
        of its workers applied it (they write the same id)."""
        trail = self.resources.audit
        digest = hashlib.sha256(new.config.model_dump_json().encode()).hexdigest()[:16]
        trail.record_admin(
            "config.reload",
            target=str(self.path),
            event_id=f"reload:{trail.host}:{new.generation}:{digest}",
            detail={"generation": new.generation, "config_sha256": digest},
        )

    def _retire(self, old: Runtime, new: Runtime) -> None:
        """Close ``old`` once its requests are done (bounded by its longest request time
        limit), after any older snapshot still retiring."""
        before = self._retiring
        limit = max((v.spec.timeout for v in old.views), default=0.0) + 5.0

        async def retire() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit
            # Polled: an event would cost every request a check; this costs a retiring
            # snapshot 20 wake-ups a second.
            while old.in_flight.n and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if before is not None:
                await before
            await old.close(successor=new)
            log.debug("generation %d closed", old.generation)

        self._retiring = asyncio.get_running_loop().create_task(retire())

    async def close(self) -> None:
        """Finish the reload in progress and the retirements (call after the listeners
        drained)."""
        if self._task is not None:
            self._again = False
            await asyncio.gather(self._task, return_exceptions=True)
        if self._retiring is not None:
            await asyncio.gather(self._retiring, return_exceptions=True)
