"""Process and connection-pool gauges, refreshed by a daemon thread every few seconds.

prometheus_client's own process collector does not work in multiprocess mode (``serve
--workers N``), so each fleet process writes its own ``posguard_fleet_process_*`` values (one
series per pid) and its pool's use; a dead process's series disappear with it.
"""

from __future__ import annotations

import os
import threading
import time

from sqlalchemy import Engine

from posguard.fleet.metrics import (
    DB_POOL_IN_USE,
    DB_POOL_SIZE,
    PROCESS_CPU,
    PROCESS_FDS,
    PROCESS_RSS,
    PROCESS_START,
)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_started: set[int] = set()


def refresh(engine: Engine | None = None) -> None:
    """Set the gauges once (also called by tests)."""
    t = os.times()
    PROCESS_CPU.set(t.user + t.system)
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            PROCESS_RSS.set(int(f.read().split()[1]) * _PAGE)
        PROCESS_FDS.set(len(os.listdir("/proc/self/fd")))
    except OSError:
        pass  # not Linux: CPU time only
    if engine is not None:
        pool = engine.pool
        checkedout = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checkedout):
            DB_POOL_IN_USE.set(checkedout())
        if callable(size):
            DB_POOL_SIZE.set(size())


def start_process_metrics(engine: Engine | None = None, *, every_s: float = 5.0) -> None:
    """Refresh now and then every ``every_s`` in a daemon thread (once per process)."""
    if os.getpid() in _started:
        return
    _started.add(os.getpid())
    PROCESS_START.set(time.time() - time.monotonic() + _boot_offset())
    refresh(engine)

    def loop() -> None:
        while True:
            time.sleep(every_s)
            refresh(engine)

    threading.Thread(target=loop, name="posguard-process-metrics", daemon=True).start()


def _boot_offset() -> float:
    """Monotonic seconds at which this process started (Linux), else now."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return time.monotonic() - uptime + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic()
