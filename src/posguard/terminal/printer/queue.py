"""The durable print queue: a receipt is stored before it prints, and printed until it is out.

Each job is one copy of one slip, kept in SQLite (WAL, ``synchronous=FULL``) with a state:

``queued``  -> ``sending`` (committed *before* the bytes go out) -> ``printed`` (committed after).

Delivery rule (at-least-once, never silently lost):

- A printer that is not ready (paper out, cover open, offline, ...) keeps the job
  ``queued``; its PRN.* fault is emitted once, and ``fault_cleared`` when the printer
  is back, at which point the queue prints what waited, in order.
- A job found in ``sending`` after a restart may or may not have come out of the
  printer (the crash fell between "sent" and "marked"). It is printed again, marked
  REPRINT / 重打印, so a second copy can never pass for a second transaction.
- A job whose send failed, or after which the printer reports a fault (paper ran out
  mid-slip), is printed again with the REPRINT marker when the printer is back.

``reprint_last()`` queues a REPRINT of the latest slip at any time, printer or not.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from posguard.common.errors import PrinterError
from posguard.common.events import EventKind
from posguard.terminal.printer.ports import PrinterPort
from posguard.terminal.printer.profiles import ProfileCheck, check_profile
from posguard.terminal.printer.receipt import Copy, ReceiptData
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.storage import guarded_write, open_durable

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS print_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    receipt     TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'printed')),
    reprint     INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    source_job  INTEGER,
    created_at  TEXT    NOT NULL,
    printed_at  TEXT
);
CREATE INDEX IF NOT EXISTS print_jobs_state ON print_jobs (state, id);
CREATE TABLE IF NOT EXISTS print_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
KEEP_PRINTED: Final = 200  # printed jobs kept for reprint and audit


class PrintQueueError(PrinterError):
    """The queue's database could not be written (``code`` SW.STORAGE_FULL when the disk is)."""


class Emit(Protocol):
    """The telemetry hook (``Outbox.emit``)."""

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> object: ...


class JobState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    PRINTED = "printed"


@dataclass(frozen=True, slots=True)
class PrintJob:
    id: int
    receipt: ReceiptData
    state: JobState
    reprint: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one pass over the queue did."""

    printed: int
    pending: int
    status: PrinterStatus


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _no_emit(kind: EventKind, code: str | None = None, **data: Any) -> object:
    return None


def print_slip(port: PrinterPort, data: bytes) -> PrinterStatus:
    """Send one rendered slip and read the printer's state afterwards: what a sale's print
    and the doctor's test print both go by. A send that fails is OFFLINE; paper may also run
    out in the middle of the slip, which the status after it shows."""
    try:
        port.send(data)
    except PrinterError:
        return PrinterStatus.OFFLINE
    return port.status()


class PrintQueue:
    """Durable FIFO of receipts in front of one :class:`PrinterPort`."""

    def __init__(
        self,
        path: str | Path,
        port: PrinterPort,
        renderer: ReceiptRenderer,
        emit: Emit | None = None,
    ) -> None:
        self.port = port
        self.renderer = renderer
        self._emit: Emit = emit or _no_emit
        self._lock = threading.RLock()  # guards the database; never held while printing
        self._pass_lock = threading.Lock()  # one pass over the printer at a time
        self._worker_kick: Callable[[], None] | None = None
        self._db = open_durable(path, _SCHEMA)
        self.recovered = self._recover()

    # -- storage ----------------------------------------------------------------------
    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return guarded_write(self._db, self._lock, PrintQueueError, "print queue storage failed")

    def _recover(self) -> int:
        """Jobs caught in ``sending`` by a crash go back to the queue, marked REPRINT."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE print_jobs SET state='queued', reprint=1 WHERE state='sending'"
            )
            return cur.rowcount

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM print_meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO print_meta (key, value) VALUES (?, ?)", (key, value))

    @staticmethod
    def _job(row: tuple[Any, ...]) -> PrintJob:
        return PrintJob(
            id=int(row[0]),
            receipt=ReceiptData.from_json(row[1]),
            state=JobState(row[2]),
            reprint=bool(row[3]),
            attempts=int(row[4]),
        )

    _COLS: Final = "id, receipt, state, reprint, attempts"

    # -- public API ---------------------------------------------------------------------
    def enqueue(self, receipt: ReceiptData, *, source_job: int | None = None) -> int:
        """Store ``receipt`` durably and return its job id; it prints on the next pass."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO print_jobs (receipt, state, reprint, source_job, created_at) "
                "VALUES (?, 'queued', ?, ?, ?)",
                (receipt.to_json(), int(receipt.reprint), source_job, _now()),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def print_receipt(self, receipt: ReceiptData) -> int:
        """Queue ``receipt`` and get it printed; never raises for a printer fault.

        With a :class:`PrintWorker` attached this only stores the job and wakes the worker
        (the sale never waits for the printer); without one it prints the queue inline.
        """
        job_id = self.enqueue(receipt)
        self._kick()
        return job_id

    def _kick(self) -> None:
        if self._worker_kick is not None:
            self._worker_kick()
        else:
            self.process()

    def reprint_last(self, copy: Copy | None = None) -> int | None:
        """Queue a REPRINT of the latest slip (optionally as the other copy); None if none yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, receipt FROM print_jobs WHERE source_job IS NULL "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        receipt = ReceiptData.from_json(row[1]).as_reprint()
        if copy is not None:
            receipt = receipt.as_copy(copy)
        job_id = self.enqueue(receipt, source_job=int(row[0]))
        self._kick()
        return job_id

    def pending(self) -> list[PrintJob]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._COLS} FROM print_jobs WHERE state != 'printed' ORDER BY id"  # noqa: S608
            ).fetchall()
        return [self._job(r) for r in rows]

    def job(self, job_id: int) -> PrintJob | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLS} FROM print_jobs WHERE id=?",  # noqa: S608
                (job_id,),
            ).fetchone()
        return None if row is None else self._job(row)

    @property
    def last_status(self) -> PrinterStatus | None:
        value = self._meta("printer_status")
        return None if value is None else PrinterStatus(value)

    def verify_profile(self) -> ProfileCheck:
        """Ask the printer who it is (GS I) and report PRN.WRONG_PROFILE when it contradicts
        the renderer's profile. Printing goes on: amounts and references are ASCII and stay
        legible, but the merchant must fix the profile (the fault stays open until then)."""
        with self._pass_lock:
            result = check_profile(self.renderer.profile, self.port.identify())
            was_wrong = self._meta("profile_wrong") == "1"
            if not result.matches and not was_wrong:
                self._emit(
                    EventKind.FAULT,
                    result.code,
                    detail=result.detail,
                    profile=self.renderer.profile.name,
                )
            elif result.matches and was_wrong:
                self._emit(EventKind.FAULT_CLEARED, "PRN.WRONG_PROFILE", detail=result.detail)
            self._set_meta("profile_wrong", "0" if result.matches else "1")
            return result

    def process(self, max_jobs: int | None = None) -> DrainResult:
        """One pass: print queued jobs in order while the printer is ready."""
        printed = 0
        with self._pass_lock:
            status = self._check_status()
            while status.can_print and (max_jobs is None or printed < max_jobs):
                with self._lock:
                    row = self._db.execute(
                        f"SELECT {self._COLS} FROM print_jobs WHERE state='queued' "  # noqa: S608
                        "ORDER BY id LIMIT 1"
                    ).fetchone()
                if row is None:
                    break
                status = self._print_one(self._job(row))
                if status.can_print:
                    printed += 1
            self._prune()
        return DrainResult(printed=printed, pending=self._pending_count(), status=status)

    def _pending_count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM print_jobs WHERE state != 'printed'")
            return int(row.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.port.close()

    # -- internals ----------------------------------------------------------------------------
    def _print_one(self, job: PrintJob) -> PrinterStatus:
        receipt = job.receipt.as_reprint() if job.reprint else job.receipt
        data = self.renderer.render(receipt)
        with self._tx() as db:
            db.execute(
                "UPDATE print_jobs SET state='sending', attempts=attempts+1 WHERE id=?", (job.id,)
            )
        after = print_slip(self.port, data)
        if not after.can_print:
            self._requeue_uncertain(job.id)
            return self._note_status(after, job.id)
        with self._tx() as db:
            db.execute(
                "UPDATE print_jobs SET state='printed', printed_at=? WHERE id=?", (_now(), job.id)
            )
        return self._note_status(after, job.id)

    def _requeue_uncertain(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE print_jobs SET state='queued', reprint=1 WHERE id=?", (job_id,))

    def _check_status(self) -> PrinterStatus:
        return self._note_status(self.port.status(), None)

    def _note_status(self, status: PrinterStatus, job_id: int | None) -> PrinterStatus:
        """Persist the printer state and emit printer / fault / fault_cleared on a change."""
        previous = self.last_status or PrinterStatus.OK
        if status is previous:
            return status
        self._set_meta("printer_status", status.value)
        pending = int(
            self._db.execute("SELECT COUNT(*) FROM print_jobs WHERE state != 'printed'").fetchone()[
                0
            ]
        )
        self._emit(
            EventKind.PRINTER,
            None,
            state=status.value,
            previous=previous.value,
            pending_jobs=pending,
        )
        if previous.code is not None and previous.code != status.code:
            self._emit(EventKind.FAULT_CLEARED, previous.code, state=status.value)
        if status.code is not None and status.code != previous.code:
            extra = {} if job_id is None else {"job_id": job_id}
            self._emit(
                EventKind.FAULT, status.code, state=status.value, pending_jobs=pending, **extra
            )
        return status

    def _prune(self) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM print_jobs WHERE state='printed' AND id NOT IN "
                "(SELECT id FROM print_jobs WHERE state='printed' ORDER BY id DESC LIMIT ?) "
                "AND id NOT IN (SELECT MAX(id) FROM print_jobs WHERE source_job IS NULL)",
                (KEEP_PRINTED,),
            )


class PrintWorker:
    """Drains a :class:`PrintQueue` in a thread: every ``interval`` seconds or on ``kick()``."""

    def __init__(
        self,
        queue: PrintQueue,
        interval: float = 2.0,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.queue = queue
        self.interval = interval
        self._on_error = on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="print-worker", daemon=True)

    def start(self) -> None:
        """Start draining; from now on ``queue.print_receipt`` only stores and wakes us."""
        self.queue._worker_kick = self.kick
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.queue._worker_kick = None
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.queue.process()
            except Exception as exc:  # a worker must outlive one bad pass; the error is reported
                if self._on_error is not None:
                    self._on_error(exc)
            self._wake.wait(self.interval)
            self._wake.clear()
