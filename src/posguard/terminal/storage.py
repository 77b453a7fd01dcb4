"""The durable SQLite under the terminal's side stores (event outbox, print queue, remote
commands): WAL with ``synchronous=FULL``, and write transactions taken up front.

SQLite errors reach the caller as :class:`sqlite3.Error`; each store names them in its own
error type.

>>> db = open_durable(":memory:", "CREATE TABLE t (x INTEGER);")
>>> with immediate(db):
...     _ = db.execute("INSERT INTO t VALUES (1)")
>>> try:
...     with immediate(db):
...         _ = db.execute("INSERT INTO t VALUES (2)")
...         raise RuntimeError("interrupted")
... except RuntimeError:
...     pass
>>> db.execute("SELECT x FROM t").fetchall()
[(1,)]
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from posguard.common.errors import PosguardError

__all__ = ["guarded_write", "immediate", "open_durable", "storage_code"]


def open_durable(path: str | Path, schema: str) -> sqlite3.Connection:
    """Open (or create) ``path`` in autocommit mode, shareable across threads (callers hold
    their own lock), WAL with ``synchronous=FULL``, and run ``schema`` on it."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``; when the block raises, the transaction is rolled back
    unless SQLite already has (it does on SQLITE_FULL) and the exception goes on."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLITE_FULL has rolled back already
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


_SQLITE_IOERR = 10  # the disk could not be read or written (a worn or filled flash card)
_SQLITE_FULL = 13  # the disk or the database is full


def storage_code(exc: sqlite3.Error) -> str | None:
    """SW.STORAGE_FULL when the storage itself failed (full, or I/O error), else None.

    One rule for every store on the terminal, by SQLite's result code (not its message).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    return "SW.STORAGE_FULL" if code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR) else None


@contextlib.contextmanager
def guarded_write(
    db: sqlite3.Connection,
    lock: Any,
    error: Callable[..., PosguardError],
    what: str,
) -> Iterator[sqlite3.Connection]:
    """One write transaction under the store's ``lock``: a SQLite failure comes out as
    ``error(f"{what}: ...", code=SW.STORAGE_FULL or None)``, the store's own error type."""
    with lock:
        try:
            with immediate(db) as conn:
                yield conn
        except sqlite3.Error as exc:
            raise error(f"{what}: {exc}", code=storage_code(exc)) from exc
