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
from collections.abc import Iterator
from pathlib import Path

__all__ = ["immediate", "open_durable"]


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
