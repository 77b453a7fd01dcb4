"""The host's journal: one row per message the host saw and what it answered, so a test or a
person can compare the host's view with a terminal's. PANs are stored masked only.

>>> j = HostJournal.open(":memory:")
>>> j.record(JournalEntry(peer="127.0.0.1:5000", tid="10000001", mti="0200", stan="000001",
...          rc="00", pan_masked="621483*********0015", amount=100, raw_len=120,
...          decision="sale approved", answer_mti="0210"))
>>> [e.rc for e in j.query(tid="10000001")]
['00']
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from posguard.common.errors import ConfigError

__all__ = ["HostJournal", "JournalEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, ts TEXT NOT NULL, peer TEXT NOT NULL, tid TEXT NOT NULL,
    mti TEXT NOT NULL, stan TEXT NOT NULL, rc TEXT NOT NULL, pan_masked TEXT NOT NULL,
    amount INTEGER, raw_len INTEGER NOT NULL, decision TEXT NOT NULL, answer_mti TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_tid_ts ON journal (tid, ts);
"""


# Built for every request: not frozen, because a frozen dataclass's __init__ sets each field
# through object.__setattr__ (≈ 5x the cost of a plain slots class, measured on the sale path).
# Treat it as immutable all the same.
@dataclass(slots=True)
class JournalEntry:
    """``rc`` is what the host answered ('' when it closed without answering); ``decision`` says
    why, in words; ``raw_len`` is the size of the frame received."""

    peer: str
    tid: str
    mti: str
    stan: str
    rc: str
    pan_masked: str
    amount: int | None
    raw_len: int
    decision: str
    answer_mti: str = ""
    ts: str = ""


_COLS = [f.name for f in fields(JournalEntry)]


class HostJournal:
    """Append-only journal in SQLite (WAL). Thread-safe: one lock around the connection.

    Entries are buffered and written in one transaction by :meth:`flush` (the server's group
    committer calls it between ledger transactions, a few times a second or every
    :data:`FLUSH_EVERY` entries), before every query and on close.
    The journal is the host's account of the wire; the ledger, not the journal, is the money.
    """

    # At most this many entries wait for a flush (the committer flushes every 0.25 s anyway).
    # Each flush commits from the journal's own connection, so the ledger's connection reads
    # its cached rows again at its next BEGIN (PRAGMA data_version): 256 here cost the host
    # 2-5 % more CPU a sale at 50 terminals than 1024 (about 0.25 s of sales at that load).
    FLUSH_EVERY = 1024

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._buffer: list[tuple[object, ...]] = []
        self._second: tuple[int, str] = (-1, "")  # a second and its text, swapped as one

    @classmethod
    def open(cls, path: str | Path) -> HostJournal:
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open host journal: {exc}", path=str(path)) from exc
        return cls(conn)

    def close(self, *, checkpoint: bool = False) -> None:
        """Flush and close; with ``checkpoint`` (the host's own clean stop) also fold the
        write-ahead log into the file. A reader (``posguard host journal``) never checkpoints:
        that would hold up a host still writing."""
        self.flush()
        with self._lock:
            if checkpoint:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def record(self, entry: JournalEntry) -> None:
        """Buffer one entry. Never writes by itself: a write here could wait on the ledger's
        open transaction in the same file; :meth:`flush` runs between ledger transactions."""
        ts = entry.ts or self._now_text()
        row = (
            ts,
            entry.peer,
            entry.tid,
            entry.mti,
            entry.stan,
            entry.rc,
            entry.pan_masked,
            entry.amount,
            entry.raw_len,
            entry.decision,
            entry.answer_mti,
        )
        with self._lock:
            self._buffer.append(row)

    def _now_text(self) -> str:
        """``datetime.now(UTC).isoformat(timespec="microseconds")``, with the date and time of
        day formatted once a second (isoformat was ≈ 1 % of a sale's instructions)."""
        now = time.time()
        second = int(now)
        cached, head = self._second
        if second != cached:
            head = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, head)
        return f"{head}.{int((now - second) * 1_000_000):06d}+00:00"

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> None:
        """Write buffered entries (one transaction)."""
        with self._lock:
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            try:
                with self._conn:  # BEGIN ... COMMIT, or ROLLBACK on error
                    self._conn.execute("BEGIN")
                    self._conn.executemany(
                        "INSERT INTO journal (ts, peer, tid, mti, stan, rc, pan_masked, amount,"
                        " raw_len, decision, answer_mti) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        rows,
                    )
            except sqlite3.Error:
                self._buffer[:0] = rows  # keep them for the next flush
                raise

    def query(
        self,
        *,
        tid: str | None = None,
        since: datetime | str | None = None,
        mti: str | None = None,
        limit: int = 1000,
    ) -> list[JournalEntry]:
        """Entries oldest first, filtered by terminal, time (UTC) and MTI."""
        self.flush()
        where, args = [], []
        if tid is not None:
            where.append("tid=?")
            args.append(tid)
        if since is not None:
            where.append("ts>=?")
            args.append(since.isoformat() if isinstance(since, datetime) else since)
        if mti is not None:
            where.append("mti=?")
            args.append(mti)
        sql = "SELECT " + ", ".join(_COLS) + " FROM journal"  # noqa: S608 (constant columns)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*args, limit)).fetchall()
        return [JournalEntry(*r) for r in rows]
