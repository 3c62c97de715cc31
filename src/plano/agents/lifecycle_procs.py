"""Agent processes as the supervisor saw them, shared with the workers through one small file.

The supervisor (a plain loop, no event loop, no store) calls :meth:`ProcessTable.record` on
each start, exit, restart and crash loop of an agent replica; the table rewrites one JSON
file atomically (write, rename). Workers read it (:func:`read_status`) once per health
round, off their event loop, to report pids, restarts and the last error, and to tell
"restarting" and "crash-looping" from plain "down". Health itself is checked by each worker.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

__all__ = ["ProcessTable", "read_status"]


class ProcessTable:
    """Process facts per replica name (``agent:<id>#<i>``), written to ``path``."""

    def __init__(
        self, path: Path, names: Iterable[str], clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._clock = clock
        self.rows: dict[str, dict[str, Any]] = {
            name: {
                "pid": None,
                "process": "pending",
                "restarts": 0,
                "last_error": None,
                "since": clock(),
            }
            for name in names
        }
        self._write()

    def record(self, name: str, event: str, pid: int | None, detail: str) -> None:
        """The supervisor's ``on_child`` hook; other children (workers) are ignored."""
        row = self.rows.get(name)
        if row is None:
            return
        now = self._clock()
        if event == "started":
            row.update(pid=pid, process="running", since=now)
        elif event == "restarting":
            row.update(pid=None, process="restarting", since=now, last_error=detail)
            row["restarts"] += 1
        elif event == "crash-loop":
            row.update(pid=None, process="crash-looping", since=now, last_error=detail)
        else:  # exited / stopped
            row.update(pid=None, process=event, since=now, last_error=detail or None)
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.rows))
        os.replace(tmp, self.path)


def read_status(path: Path | None) -> dict[str, dict[str, Any]]:
    """The table as last written (empty when there is none or it cannot be read)."""
    if path is None:
        return {}
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        data = orjson.loads(path.read_bytes())
        if isinstance(data, dict):
            return data
    return {}
