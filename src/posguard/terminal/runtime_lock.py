"""One runtime per terminal: an exclusive ``flock`` on ``<data_dir>/runtime.lock``.

Two runtimes on one journal, outbox and print queue would each send the same pending
reversal and print the same slip. The lock file holds the owner's pid for the error
message; the lock itself is the kernel's, dropped when its holder dies (kill -9 included),
so a stale pid file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from posguard.common.errors import ConfigError
from posguard.common.locking import HeldLock, poll_until, try_flock


class RuntimeLock(HeldLock):
    """``with RuntimeLock(data_dir, wait=5):`` -- raises ConfigError if another runtime holds it
    for longer than ``wait`` seconds (a previous runtime may still be shutting down)."""

    def __init__(self, data_dir: Path, *, wait: float = 5.0) -> None:
        self.path = Path(data_dir) / "runtime.lock"
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not poll_until(lambda: try_flock(fd), every_s=0.05, timeout_s=self.wait):
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"another terminal runtime (pid {owner}) holds {self.path}: "
                "one runtime per terminal; stop it first"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
