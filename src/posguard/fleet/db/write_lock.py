"""One writer at a time on a SQLite fleet database, across threads and processes, without
SQLite's sleeping busy handler.

SQLite takes one writer at a time. A second writer meets ``SQLITE_BUSY`` and its busy handler
sleeps 1, 2, 5, 10… ms before retrying, however soon the first writer finishes: with several
ingest threads or processes (HTTP workers, MQTT workers on a shared subscription) most of the
time went into those sleeps. Ingest therefore takes this lock around its write transaction: a
:class:`threading.Lock` inside a process and an ``flock`` on a file beside the database across
processes; a waiter is woken the moment the holder lets go. Readers never take it (WAL lets
them read during a write), and writers that do not take it (the API's own updates, the
diagnosis loop) still meet SQLite's own lock, so correctness never depends on this lock.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS: the thread lock alone
    fcntl = None  # type: ignore[assignment]


class SqliteWriteLock:
    """A context manager held around one write transaction.

    >>> import tempfile
    >>> lock = SqliteWriteLock(Path(tempfile.mkdtemp()) / "fleet.db")
    >>> with lock:
    ...     lock.held
    True
    >>> lock.held
    False
    """

    def __init__(self, database: Path | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = None if database is None else database.with_name(database.name + ".wlock")
        self._fd: int | None = None
        self._pid = 0
        self.held = False

    def _file(self) -> int | None:
        if self._path is None or fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> SqliteWriteLock:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self.held = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.held = False
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def sqlite_database_path(url_database: str | None) -> Path | None:
    """The file of a SQLite URL's database part, or None for an in-memory database.

    >>> sqlite_database_path("/var/lib/posguard/fleet.db")
    PosixPath('/var/lib/posguard/fleet.db')
    >>> sqlite_database_path(":memory:") is None, sqlite_database_path(None) is None
    (True, True)
    """
    if not url_database or url_database == ":memory:" or url_database.startswith("file:"):
        return None
    return Path(url_database)
