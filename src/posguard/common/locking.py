"""What the single-holder locks share, whatever holds the lock: the fleet's correlator (a
PostgreSQL advisory lock, :mod:`posguard.fleet.diagnosis.leader`), a terminal runtime and a
terminal update (a kernel ``flock``, :mod:`posguard.terminal.runtime_lock`,
:mod:`posguard.terminal.update_state`).

- :class:`HeldLock`: ``acquire`` / ``release``, held for a ``with`` block;
- :func:`poll_until`: try again every ``every_s`` seconds until it works or a deadline passes;
- :func:`try_flock`: an exclusive ``flock`` on a file descriptor, False when another holds it.

>>> tries = iter([False, False, True])
>>> poll_until(lambda: next(tries), every_s=0, timeout_s=None)
True
>>> poll_until(lambda: False, every_s=0, timeout_s=0)
False
"""

from __future__ import annotations

import fcntl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Self

__all__ = ["HeldLock", "poll_until", "try_flock"]


class HeldLock(ABC):
    """A lock one holder at a time; ``with lock:`` acquires it (as ``acquire()`` with its
    defaults) and releases it at the end of the block, however the block ends."""

    @abstractmethod
    def acquire(self) -> object: ...

    @abstractmethod
    def release(self) -> None: ...

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def poll_until(attempt: Callable[[], bool], *, every_s: float, timeout_s: float | None) -> bool:
    """Call ``attempt`` until it returns True (then True), sleeping ``every_s`` between tries;
    False once ``timeout_s`` has passed since the first try (None: wait for ever). The first
    try is always made, even with a timeout of 0."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not attempt():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(every_s)
    return True


def try_flock(fd: int, *, wait: bool = False) -> bool:
    """Take an exclusive ``flock`` on ``fd``: True once held, False when another holds it and
    ``wait`` is off (with ``wait`` on, block until it is ours). The kernel drops the lock when
    its holder dies (kill -9 included)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True
