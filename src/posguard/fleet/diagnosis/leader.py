"""One correlator at a time: a PostgreSQL session-level advisory lock, held on a connection of
its own for as long as the correlator runs. When its process dies the server drops the
connection and the lock with it, and a waiting correlator takes over. SQLite has one writer
machine anyway: the lock is always granted there.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection, Engine, text

from posguard.common.locking import HeldLock, poll_until

CORRELATOR_LOCK = 0x706F_7367_0015  # "posg" + issue 15: one number for every fleet process


class AdvisoryLock(HeldLock):
    def __init__(self, engine: Engine, key: int = CORRELATOR_LOCK) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        if self.engine.dialect.name != "postgresql":
            self._conn = self.engine.connect()
            return True
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def alive(self) -> bool:
        """Held, and its connection still answers; a connection the server dropped (and the
        lock with it) is closed and forgotten, so :meth:`try_acquire` takes the lock afresh."""
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.execute(text("SELECT 1")).scalar()
            conn.commit()
            return True
        except Exception:
            self._conn = None
            with contextlib.suppress(Exception):
                conn.close()
            return False

    def acquire(self, *, poll_s: float = 1.0, timeout_s: float | None = None) -> bool:
        """Wait until the lock is ours (or ``timeout_s`` passes); True when held."""
        return poll_until(self.try_acquire, every_s=poll_s, timeout_s=timeout_s)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
        finally:
            conn.close()
