"""The SQLite ingest write lock excludes other threads and other processes."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

from posguard.fleet.db.write_lock import SqliteWriteLock


def _hold(db: Path, log: Path, rounds: int) -> None:
    lock = SqliteWriteLock(db)
    for _ in range(rounds):
        with lock:
            with log.open("a") as f:
                f.write("enter\n")
            time.sleep(0.002)
            with log.open("a") as f:
                f.write("exit\n")


def _never_overlapping(log: Path) -> int:
    lines = log.read_text().split()
    assert lines == ["enter", "exit"] * (len(lines) // 2), "two holders were inside at once"
    return len(lines) // 2


def test_two_processes_never_hold_it_at_once(tmp_path: Path) -> None:
    db, log = tmp_path / "fleet.db", tmp_path / "log"
    procs = [mp.get_context("fork").Process(target=_hold, args=(db, log, 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert _never_overlapping(log) == 30


def test_threads_of_one_process_never_hold_it_at_once(tmp_path: Path) -> None:
    db, log = tmp_path / "fleet.db", tmp_path / "log"
    lock = SqliteWriteLock(db)
    inside = []

    def hold() -> None:
        for _ in range(10):
            with lock:
                inside.append(1)
                assert len(inside) == 1
                with log.open("a") as f:
                    f.write("enter\n")
                time.sleep(0.001)
                with log.open("a") as f:
                    f.write("exit\n")
                inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _never_overlapping(log) == 30


def test_an_error_inside_releases_it(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "fleet.db")
    try:
        with lock:
            raise RuntimeError("write failed")
    except RuntimeError:
        pass
    assert not lock.held
    with lock:  # not deadlocked
        assert lock.held


def test_an_in_memory_database_gets_a_thread_lock_only() -> None:
    lock = SqliteWriteLock(None)
    with lock:
        assert lock.held
