"""The SQLite hot stores shared by two processes (as the workers of one host share them)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.store.hot_backends import started, take

from plano.store.sqlite_hot import SQLiteCounters, SQLiteKeyValue
from plano.store.sqlite_topics import SQLiteTopics

_WORKER = """
import asyncio, os, sys, time
from pathlib import Path
from plano.store.sqlite_hot import SQLiteCounters

async def main(path, go, n):
    counters = SQLiteCounters(Path(path))
    await counters.get("warm")  # schema and connection ready before the start line
    print("ready", flush=True)
    while not os.path.exists(go):
        await asyncio.sleep(0.001)
    began = time.time()
    won = await asyncio.gather(*(counters.reserve({"k": 1}, {"k": 600}) for _ in range(n)))
    print(sum(r is not None for r in won), began, time.time(), flush=True)
    await counters.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def test_two_processes_reserving_never_overrun_the_limit(tmp_path: Path) -> None:
    db, go = tmp_path / "hot.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(db), str(go), "500"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        won, spans = [], []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0
            count, began, ended = out.split()
            won.append(int(count))
            spans.append((float(began), float(ended)))
    finally:
        for p in procs:
            p.kill()
    assert sum(won) == 600, won
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, spans  # they did run at the same time

    async def held() -> tuple[float, float]:
        counters = SQLiteCounters(db)
        try:
            return await counters.get("k")
        finally:
            await counters.close()

    assert asyncio.run(held()) == (0.0, 600.0)


async def test_a_second_process_sees_writes_and_messages(tmp_path: Path) -> None:
    db = tmp_path / "hot.db"
    kv, topics = SQLiteKeyValue(db, prefix="g:"), SQLiteTopics(db, prefix="g:")
    try:
        sub = await started(topics, "jobs", "g", "c")
        other = await asyncio.create_subprocess_exec(sys.executable, "-c", _OTHER, str(db))
        assert await asyncio.wait_for(other.wait(), 60) == 0
        assert await kv.get("pin") == b"dep-b"
        msg = await take(topics, sub, "g")
        assert msg.payload == b"from-other" and msg.headers == {"from": "other"}
        await sub.aclose()
    finally:
        await kv.close()
        await topics.close()


_OTHER = """
import asyncio, sys
from pathlib import Path
from plano.store.sqlite_hot import SQLiteKeyValue
from plano.store.sqlite_topics import SQLiteTopics

async def main(path):
    kv, topics = SQLiteKeyValue(path, prefix="g:"), SQLiteTopics(path, prefix="g:")
    await kv.set("pin", b"dep-b")
    await topics.publish("jobs", b"from-other", {"from": "other"})
    await kv.close()
    await topics.close()

asyncio.run(main(Path(sys.argv[1])))
"""
