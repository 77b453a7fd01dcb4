"""The shared shape of the single-holder locks (:mod:`posguard.common.locking`): a kernel
``flock`` has one holder (flock(2): a second exclusive lock on another open file description
fails with EWOULDBLOCK when non-blocking), ``with`` releases whatever ends the block, and
polling stops at its deadline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from posguard.common.locking import HeldLock, poll_until, try_flock


@contextmanager
def _fd(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)


def test_a_second_flock_is_refused_until_the_first_holder_closes(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with _fd(path) as first:
        assert try_flock(first)
        with _fd(path) as second:
            assert not try_flock(second)
    with _fd(path) as third:  # the holder's descriptor is closed: the kernel dropped the lock
        assert try_flock(third)


def test_polling_gives_up_at_its_deadline_after_trying_more_than_once() -> None:
    calls: list[int] = []

    def never() -> bool:
        calls.append(1)
        return False

    assert not poll_until(never, every_s=0.01, timeout_s=0.05)
    assert len(calls) >= 2


class _Recorded(HeldLock):
    def __init__(self) -> None:
        self.log: list[str] = []

    def acquire(self) -> None:
        self.log.append("acquire")

    def release(self) -> None:
        self.log.append("release")


def _fail_while_holding(lock: _Recorded) -> None:
    with lock as held:
        assert held is lock
        assert lock.log == ["acquire"]
        raise RuntimeError


def test_with_releases_the_lock_when_the_block_raises() -> None:
    lock = _Recorded()
    with pytest.raises(RuntimeError):
        _fail_while_holding(lock)
    assert lock.log == ["acquire", "release"]
