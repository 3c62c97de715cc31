"""Reservation ids: a per-process random prefix and a counter."""

from __future__ import annotations

import os

from plano.store.common import new_reservation_id


def test_reservation_ids_are_unique_in_a_process() -> None:
    ids = [new_reservation_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_worker_gets_a_prefix_of_its_own() -> None:
    parent = new_reservation_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's exit
        os.write(write, new_reservation_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child and child[:16] != parent[:16]
