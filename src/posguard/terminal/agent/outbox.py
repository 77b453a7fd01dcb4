"""The durable event outbox: every event is written here before anyone tries to send it.

``Outbox.emit(kind, code=None, **data)`` validates the event against the shared schema
(:mod:`posguard.common.events`), gives it the next sequence number of this terminal
and commits it (SQLite, WAL, ``synchronous=FULL``) -- a local write of about a
millisecond, never a network call, so it cannot hold up a sale. A publisher drains
the outbox in the background (``peek`` / ``ack``); an event stays here until the fleet
confirms it stored it (:mod:`posguard.common.event_ack`), not merely until it was sent.

``seq`` is monotonic per terminal and survives restarts (SQLite AUTOINCREMENT never
reuses a number, even after acknowledged rows are deleted), so ``(terminal_id, seq)``
lets the fleet store a resent event once.

>>> import tempfile, pathlib
>>> box = Outbox(pathlib.Path(tempfile.mkdtemp()) / "outbox.db", "T0000001", "898310048990001")
>>> e = box.emit(EventKind.FAULT, "PRN.PAPER_OUT", pending_jobs=2)
>>> (e.seq, e.kind.value, e.code, e.data)
(1, 'fault', 'PRN.PAPER_OUT', {'pending_jobs': 2})
>>> box.emit(EventKind.TRANSACTION, pan="6212345678901232")
Traceback (most recent call last):
...
posguard.common.errors.EventError: invalid event: data: ... looks like a clear card number; ...
>>> [ev.seq for ev in box.peek()]
[1]
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from posguard.common.errors import ConfigError, EventError, PosguardError
from posguard.common.event_ack import seq_ranges
from posguard.common.events import MAX_EVENT_BYTES, Event, EventKind, parse_event
from posguard.common.validation import field_path
from posguard.terminal.storage import guarded_write, open_durable

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,
    body  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
DEFAULT_MAX_PENDING: Final = 100_000


class OutboxError(PosguardError):
    """The outbox database could not be written or read."""


class Outbox:
    """Durable, ordered buffer of one terminal's events."""

    def __init__(
        self,
        path: str | Path,
        terminal_id: str,
        merchant_id: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.terminal_id = terminal_id
        self.merchant_id = merchant_id
        self.max_pending = max_pending
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        try:
            self._db = open_durable(path, _SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open event outbox {path}: {exc}", path=str(path)) from exc
        owner = self._meta("terminal_id")
        if owner is None:
            self._set_meta("terminal_id", terminal_id)
        elif owner != terminal_id:
            raise ConfigError(
                f"event outbox {path} belongs to terminal {owner}, not {terminal_id}",
                path=str(path),
            )

    # -- storage helpers ----------------------------------------------------------------
    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return guarded_write(self._db, self._lock, OutboxError, "event outbox write failed")

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO outbox_meta (key, value) VALUES (?, ?)", (key, value)
            )

    # -- writing ------------------------------------------------------------------------------
    def emit(self, kind: EventKind | str, code: str | None = None, **data: Any) -> Event:
        """Validate, number and store one event; returns it. Raises EventError for bad data."""
        ts = self._clock()
        try:
            kind = EventKind(kind)
        except ValueError as exc:
            raise EventError(f"invalid event: kind {kind!r} is not an event kind") from exc
        with self._tx() as db:
            cur = db.execute("INSERT INTO outbox (kind, body) VALUES (?, '')", (kind.value,))
            seq = cur.lastrowid
            assert seq is not None
            try:
                event = Event(
                    terminal_id=self.terminal_id,
                    merchant_id=self.merchant_id,
                    seq=seq,
                    ts=ts,
                    kind=kind,
                    code=code,
                    data=data,
                )
            except ValidationError as exc:
                parts = "; ".join(
                    f"{field_path(e['loc'], 'event')}: {e['msg']}" for e in exc.errors()
                )
                raise EventError(f"invalid event: {parts}", kind=kind.value, code=code) from exc
            body = event.model_dump_json()
            if len(body.encode()) > MAX_EVENT_BYTES:  # the fleet would refuse it on every path
                raise EventError(
                    f"invalid event: larger than {MAX_EVENT_BYTES} bytes", kind=kind.value
                )
            db.execute("UPDATE outbox SET body=? WHERE seq=?", (body, seq))
            self._trim(db)
        for listener in list(self._listeners):
            listener()
        return event

    def _trim(self, db: sqlite3.Connection) -> None:
        """Above ``max_pending``, drop the oldest heartbeats first, then the oldest events."""
        (count,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = int(count) - self.max_pending
        if excess <= 0:
            return
        for where in ("WHERE kind='heartbeat'", ""):
            cur = db.execute(
                f"DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox {where} "  # noqa: S608
                "ORDER BY seq LIMIT ?)",
                (excess,),
            )
            excess -= cur.rowcount
            dropped = int(self._meta("dropped") or 0) + cur.rowcount
            db.execute(
                "INSERT OR REPLACE INTO outbox_meta (key, value) VALUES ('dropped', ?)",
                (str(dropped),),
            )
            if excess <= 0:
                return

    def on_emit(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after each stored event (wakes a publisher); must not block."""
        self._listeners.append(listener)

    # -- draining ------------------------------------------------------------------------------
    def peek(self, limit: int = 100, *, after: int = 0) -> list[Event]:
        """The oldest unconfirmed events with ``seq > after``, in seq order (they stay until
        :meth:`ack`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [parse_event(r[0]) for r in rows]

    def get(self, seqs: Iterable[int]) -> list[Event]:
        """The events among ``seqs`` still here (not yet confirmed), in seq order."""
        wanted = sorted(set(seqs))
        rows: list[Any] = []
        with self._lock:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                rows += self._db.execute(
                    f"SELECT seq, body FROM outbox WHERE seq IN ({','.join('?' * len(part))})",  # noqa: S608
                    part,
                ).fetchall()
        return [parse_event(body) for _, body in sorted(rows)]

    def ack(self, seqs: Iterable[int]) -> int:
        """Forget events the fleet has confirmed; returns how many were removed."""
        return self.ack_ranges(seq_ranges(seqs))

    def ack_ranges(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Forget the events in the inclusive ``(first, last)`` ranges the fleet confirmed;
        returns how many were removed (a repeated confirmation removes nothing)."""
        with self._tx() as db:
            before = db.total_changes
            db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", list(ranges))
            return db.total_changes - before

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    @property
    def dropped(self) -> int:
        """Events dropped because the buffer was full (oldest heartbeats go first)."""
        return int(self._meta("dropped") or 0)

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def event_json(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready object (what goes on the wire)."""
    obj: dict[str, Any] = json.loads(event.model_dump_json())
    return obj
