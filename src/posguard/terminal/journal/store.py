"""The journal store: SQLite in WAL mode with ``synchronous=FULL`` (each commit is fsynced).

Every state change of a transaction is one SQL transaction. A STAN is reserved in the same
transaction that inserts its record, so a crash can never hand out a STAN twice nor leave a
request on the wire without its record (the record is committed before the request leaves).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "j.db"
>>> j = Journal.open(path, key=b"k" * 16, terminal_id="T0000001")
>>> j.next_stan(), j.next_stan(), j.current_batch()
('000001', '000002', '000001')
>>> j.close()
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posguard.card import brand_of, mask_pan
from posguard.common.errors import ConfigError, PosguardError
from posguard.iso8583.operations import CREDITS, DEBITS
from posguard.terminal.journal.cardvault import CardVault
from posguard.terminal.journal.records import Kind, Record, Totals, TxnState
from posguard.terminal.journal.schema import ADDED_COLUMNS, DDL, SCHEMA_VERSION
from posguard.terminal.storage import immediate

MAX_STAN = 999_999
MAX_BATCH = 999_999

# Settlement totals by the operation table's side of each kind (field 48 of the 0500).
_DEBIT_KINDS = tuple(sorted(k.value for k in DEBITS))
_CREDIT_KINDS = tuple(sorted(k.value for k in CREDITS))
_D_IN = ",".join("?" * len(_DEBIT_KINDS))
_C_IN = ",".join("?" * len(_CREDIT_KINDS))
_TOTALS_SQL = (
    "SELECT "  # noqa: S608 - only placeholders are formatted in
    f" SUM(CASE WHEN kind IN ({_D_IN}) THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN kind IN ({_D_IN}) THEN amount ELSE 0 END),"
    f" SUM(CASE WHEN kind IN ({_C_IN}) THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN kind IN ({_C_IN}) THEN amount ELSE 0 END) "
    "FROM txns WHERE batch = ? AND state = ? AND voided = 0 AND training = 0"
)


class JournalError(PosguardError):
    """The journal cannot be read or written (disk, corruption, misuse)."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A transaction about to be sent: everything the request and its reversal need."""

    kind: Kind
    amount: int
    pan: str
    expiry: str
    entry_mode: str
    currency: str = "156"
    orig: Record | None = None
    training: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Journal:
    def __init__(self, conn: sqlite3.Connection, vault: CardVault, path: Path) -> None:
        self._db = conn
        self._vault = vault
        self.path = path

    @classmethod
    def open(
        cls, path: Path, *, key: bytes, terminal_id: str, legacy_keys: tuple[bytes, ...] = ()
    ) -> Journal:
        """Open (or create) the journal; ``key`` is the card-vault key, ``legacy_keys`` the
        keys older records may be sealed under (the TMK, before the vault key existed)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(f"journal {path} cannot use WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(DDL)
            have = {r[1] for r in conn.execute("PRAGMA table_info(txns)")}
            with immediate(conn):
                for name, decl in ADDED_COLUMNS:
                    if name not in have:
                        conn.execute(f"ALTER TABLE txns ADD COLUMN {name} {decl}")
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema' AND CAST(value AS INT) < ?",
                    (str(SCHEMA_VERSION), SCHEMA_VERSION),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) "
                    "VALUES ('schema', ?), ('terminal_id', ?)",
                    (str(SCHEMA_VERSION), terminal_id),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO counters(name, value) VALUES ('stan', 0), ('batch', 1)"
                )
            owner = conn.execute("SELECT value FROM meta WHERE key='terminal_id'").fetchone()[0]
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}", path=str(path)) from exc
        if owner != terminal_id:
            conn.close()
            raise ConfigError(
                f"journal {path} belongs to terminal {owner}, not {terminal_id}", path=str(path)
            )
        return cls(conn, CardVault(key, terminal_id, legacy_keys), path)

    def close(self) -> None:
        self._db.close()

    # -- counters --------------------------------------------------------------------------

    def _reserve_stan(self) -> str:
        row = self._db.execute(
            "UPDATE counters SET value = CASE WHEN value >= ? THEN 1 ELSE value + 1 END "
            "WHERE name = 'stan' RETURNING value",
            (MAX_STAN,),
        ).fetchone()
        return f"{row[0]:06d}"

    def next_stan(self) -> str:
        """Reserve a STAN for a message that has no journal record (sign-on, echo, settlement)."""
        with self._write():
            return self._reserve_stan()

    def current_batch(self) -> str:
        row = self._db.execute("SELECT value FROM counters WHERE name = 'batch'").fetchone()
        return f"{row[0]:06d}"

    def adopt_batch(self, batch: str) -> bool:
        """Take the batch number the host assigned at sign-on (UnionPay: the batch is the
        host's). Only a current batch without a transaction the host may have booked is
        renumbered (records the host declined or never received stay where they are, counted
        nowhere: so a host that refused a sale ``77`` because it moved the batch is followed);
        no record changes batch. False when the batch was kept (it holds a transaction) or was
        already ``batch``."""
        if not (batch.isdigit() and len(batch) == 6) or int(batch) == 0:
            raise JournalError(f"host batch number {batch!r} is not 6 digits (000001-999999)")
        with self._write():
            current = self.current_batch()
            if current == batch:
                return False
            used = self._db.execute(
                "SELECT 1 FROM txns WHERE batch = ? AND state NOT IN (?, ?) AND training = 0 "
                "LIMIT 1",
                (current, TxnState.DECLINED.value, TxnState.NOT_SENT.value),
            ).fetchone()
            if used is not None:
                return False
            self._db.execute("UPDATE counters SET value = ? WHERE name = 'batch'", (int(batch),))
        return True

    # -- training mode ---------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether the terminal is in training mode (培训模式); kept in the journal, so a
        restart or a crash never turns practice into live sales."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'training'").fetchone()
        return row is not None and row[0] == "1"

    def set_training(self, on: bool) -> bool:
        """Enter or leave training mode; whether it changed."""
        with self._write():
            before = self.training
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('training', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                ("1" if on else "0",),
            )
        return before != on

    # -- writes ----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        try:
            with immediate(self._db):
                yield
        except sqlite3.Error as exc:
            raise JournalError(f"journal write failed: {exc}", path=str(self.path)) from exc

    def begin(self, draft: Draft, *, local: datetime | None = None) -> Record:
        """Reserve a STAN and write the record in one transaction, *before* anything is sent.

        A reversible kind is written as SENDING with reversal reason 98 (the reason that holds
        if no answer ever comes); an advice is written straight into the store-and-forward queue.
        """
        local = local or datetime.now()
        state = TxnState.ADVICE_PENDING if draft.kind.is_advice else TxnState.SENDING
        reason = "98" if draft.kind.reversible else None
        o = draft.orig
        now = _now()
        with self._write():
            stan = self._reserve_stan()
            batch = self.current_batch()
            cur = self._db.execute(
                "INSERT INTO txns(stan, batch, kind, state, amount, currency, masked_pan, card, "
                "brand, entry_mode, local_date, local_time, created_at, updated_at, "
                "reversal_reason, orig_id, orig_stan, orig_batch, orig_date, orig_rrn, orig_auth, "
                "training) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    stan,
                    batch,
                    draft.kind.value,
                    state.value,
                    draft.amount,
                    draft.currency,
                    mask_pan(draft.pan),
                    self._vault.seal(draft.pan, draft.expiry),
                    brand_of(draft.pan).value,
                    draft.entry_mode,
                    local.strftime("%m%d"),
                    local.strftime("%H%M%S"),
                    now,
                    now,
                    reason,
                    o.id if o else None,
                    o.stan if o else None,
                    o.batch if o else None,
                    o.local_date if o else None,
                    o.rrn if o else None,
                    o.auth_code if o else None,
                    int(draft.training),
                ),
            )
            rowid = cur.lastrowid
        assert rowid is not None
        return self.get(rowid)

    def _update(self, rid: int, **cols: Any) -> None:
        cols["updated_at"] = _now()
        sets = ", ".join(f"{k} = ?" for k in cols)
        self._db.execute(f"UPDATE txns SET {sets} WHERE id = ?", (*cols.values(), rid))  # noqa: S608

    def mark_approved(
        self,
        rid: int,
        *,
        rc: str,
        rrn: str | None,
        auth_code: str | None,
        host: str,
        amount: int | None = None,
    ) -> Record:
        """The host approved (``amount``: what it approved, when a partial approval (10) gave
        less); until :meth:`mark_completed` a crash means reversal reason 96."""
        rec = self.get(rid)
        with self._write():
            if amount is not None and amount != rec.amount:
                self._update(rid, amount=amount)
            if rec.kind.reversible:
                self._update(
                    rid,
                    state=TxnState.APPROVED.value,
                    rc=rc,
                    rrn=rrn,
                    auth_code=auth_code,
                    host=host,
                    reversal_reason="96",
                )
            else:
                self._complete(rec, rc=rc, rrn=rrn, auth_code=auth_code, host=host)
        return self.get(rid)

    def _complete(self, rec: Record, **cols: Any) -> None:
        self._update(
            rec.id,
            state=TxnState.COMPLETED.value,
            reversal_reason=None,
            completed_at=_now(),
            **cols,
        )
        if rec.kind.cancels_original and rec.orig_id is not None:
            self._db.execute(
                "UPDATE txns SET voided = 1, updated_at = ? WHERE id = ?", (_now(), rec.orig_id)
            )

    def mark_completed(self, rid: int) -> Record:
        """The terminal finished the approved transaction: no reversal will ever be needed."""
        rec = self.get(rid)
        if rec.state is not TxnState.APPROVED:
            raise JournalError(f"record {rid} is {rec.state.value}, not approved", stan=rec.stan)
        with self._write():
            self._complete(rec)
        return self.get(rid)

    def mark_declined(self, rid: int, *, rc: str, code: str | None, host: str | None) -> Record:
        with self._write():
            self._update(
                rid,
                state=TxnState.DECLINED.value,
                rc=rc,
                code=code,
                host=host,
                reversal_reason=None,
            )
        return self.get(rid)

    def mark_not_sent(self, rid: int, *, code: str | None) -> Record:
        """The request never left (no host reachable): nothing to reverse, no charge."""
        with self._write():
            self._update(rid, state=TxnState.NOT_SENT.value, code=code, reversal_reason=None)
        return self.get(rid)

    def mark_reversal_due(
        self,
        rid: int,
        *,
        reason: str,
        code: str | None,
        rc: str | None = None,
        host: str | None = None,
        amount: int | None = None,
    ) -> Record:
        cols: dict[str, Any] = {
            "state": TxnState.REVERSAL_PENDING.value,
            "reversal_reason": reason,
            "code": code,
        }
        if rc is not None:
            cols["rc"] = rc
        if host is not None:
            cols["host"] = host
        if amount is not None:
            cols["amount"] = amount
        with self._write():
            self._update(rid, **cols)
        return self.get(rid)

    def reversal_attempted(self, rid: int, *, next_at: float) -> None:
        with self._write():
            self._db.execute(
                "UPDATE txns SET reversal_attempts = reversal_attempts + 1, reversal_next_at = ?, "
                "updated_at = ? WHERE id = ?",
                (next_at, _now(), rid),
            )

    def mark_reversed(self, rid: int, *, rc: str | None = None) -> Record:
        """The host answered the reversal: whatever its field 39 (``rc``), it is closed."""
        with self._write():
            self._update(rid, state=TxnState.REVERSED.value, reversal_rc=rc)
        return self.get(rid)

    def reversal_unanswered(self, rid: int) -> Record:
        """One more try that may have reached the host went unanswered."""
        with self._write():
            self._db.execute(
                "UPDATE txns SET reversal_unanswered = reversal_unanswered + 1, updated_at = ? "
                "WHERE id = ?",
                (_now(), rid),
            )
        return self.get(rid)

    def mark_reversal_failed(self, rid: int, *, code: str) -> Record:
        """Given up (tries spent, or an earlier day's): a reconciliation item, not blocking."""
        with self._write():
            self._update(rid, state=TxnState.REVERSAL_FAILED.value, code=code)
        return self.get(rid)

    def advice_attempted(self, rid: int, *, next_at: float) -> None:
        with self._write():
            self._db.execute(
                "UPDATE txns SET advice_attempts = advice_attempts + 1, advice_next_at = ?, "
                "updated_at = ? WHERE id = ?",
                (next_at, _now(), rid),
            )

    def mark_advice_done(self, rid: int, *, rc: str, rrn: str | None, host: str) -> Record:
        """The host answered the advice: 00 completes it, anything else is a decline."""
        rec = self.get(rid)
        with self._write():
            if rc == "00":
                self._complete(rec, rc=rc, rrn=rrn, host=host)
            else:
                self._update(rid, state=TxnState.DECLINED.value, rc=rc, host=host)
        return self.get(rid)

    def recover(self) -> dict[str, int]:
        """After a (possible) crash: SENDING → reversal 98, APPROVED → reversal 96 (one write);
        the catalog code of both is SW.CRASH."""
        with self._write():
            lost = self._db.execute(
                "UPDATE txns SET state = ?, reversal_reason = '98', code = 'SW.CRASH', "
                "updated_at = ? "
                "WHERE state = ? AND reversal_reason IS NOT NULL",
                (TxnState.REVERSAL_PENDING.value, _now(), TxnState.SENDING.value),
            ).rowcount
            unfinished = self._db.execute(
                "UPDATE txns SET state = ?, reversal_reason = '96', code = 'SW.CRASH', "
                "updated_at = ? WHERE state = ?",
                (TxnState.REVERSAL_PENDING.value, _now(), TxnState.APPROVED.value),
            ).rowcount
            inquiries = self._db.execute(
                "UPDATE txns SET state = ?, updated_at = ? "
                "WHERE state = ? AND reversal_reason IS NULL",
                (TxnState.NOT_SENT.value, _now(), TxnState.SENDING.value),
            ).rowcount
        return {"no_answer": lost, "not_completed": unfinished, "inquiries": inquiries}

    # -- reads -----------------------------------------------------------------------------

    def get(self, rid: int) -> Record:
        row = self._db.execute("SELECT * FROM txns WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise JournalError(f"no journal record {rid}")
        return _record(row)

    def find(self, *, stan: str, batch: str | None = None) -> Record | None:
        row = self._db.execute(
            "SELECT * FROM txns WHERE stan = ? AND batch = ? ORDER BY id DESC LIMIT 1",
            (stan, batch or self.current_batch()),
        ).fetchone()
        return _record(row) if row else None

    def card(self, rec: Record) -> tuple[str, str]:
        """(PAN, expiry) of a record, for a reversal or batch upload only. Never log these."""
        row = self._db.execute("SELECT card FROM txns WHERE id = ?", (rec.id,)).fetchone()
        return self._vault.open(bytes(row[0]))

    def pending_reversals(self, *, due_before: float | None = None) -> list[Record]:
        sql = "SELECT * FROM txns WHERE state = ?"
        args: list[Any] = [TxnState.REVERSAL_PENDING.value]
        if due_before is not None:
            sql += " AND reversal_next_at <= ?"
            args.append(due_before)
        return [_record(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def pending_advices(self, *, due_before: float | None = None) -> list[Record]:
        sql = "SELECT * FROM txns WHERE state = ?"
        args: list[Any] = [TxnState.ADVICE_PENDING.value]
        if due_before is not None:
            sql += " AND advice_next_at <= ?"
            args.append(due_before)
        return [_record(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def records(self, *, batch: str | None = None) -> list[Record]:
        if batch is None:
            rows = self._db.execute("SELECT * FROM txns ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM txns WHERE batch = ? ORDER BY id", (batch,))
        return [_record(r) for r in rows]

    def last_completed(self) -> Record | None:
        row = self._db.execute(
            "SELECT * FROM txns WHERE state = ? ORDER BY completed_at DESC, id DESC LIMIT 1",
            (TxnState.COMPLETED.value,),
        ).fetchone()
        return _record(row) if row else None

    def totals(self, batch: str | None = None) -> Totals:
        """Completed, not voided transactions of ``batch`` by the settlement side the
        operation table gives their kind (debit: sales and completions; credit: refunds).
        Training transactions count nowhere."""
        batch = batch or self.current_batch()
        kinds = (*_DEBIT_KINDS, *_DEBIT_KINDS, *_CREDIT_KINDS, *_CREDIT_KINDS)
        row = self._db.execute(_TOTALS_SQL, (*kinds, batch, TxnState.COMPLETED.value)).fetchone()
        return Totals(*(int(v or 0) for v in row))

    def record_settlement(self, batch: str, totals: Totals, result: str, *, close: bool) -> str:
        """Log a settlement attempt; when ``close`` the batch number advances in the same write."""
        with self._write():
            self._db.execute(
                "INSERT INTO settlements(batch, ts, debit_count, debit_amount, credit_count, "
                "credit_amount, result) VALUES (?,?,?,?,?,?,?)",
                (
                    batch,
                    _now(),
                    totals.debit_count,
                    totals.debit_amount,
                    totals.credit_count,
                    totals.credit_amount,
                    result,
                ),
            )
            if close:
                self._db.execute(
                    "UPDATE counters SET value = CASE WHEN value >= ? THEN 1 ELSE value + 1 END "
                    "WHERE name = 'batch' AND value = ?",
                    (MAX_BATCH, int(batch)),
                )
        return self.current_batch()


def _record(row: sqlite3.Row) -> Record:
    return Record(
        id=row["id"],
        stan=row["stan"],
        batch=row["batch"],
        kind=Kind(row["kind"]),
        state=TxnState(row["state"]),
        amount=row["amount"],
        currency=row["currency"],
        masked_pan=row["masked_pan"],
        brand=row["brand"],
        entry_mode=row["entry_mode"],
        local_date=row["local_date"],
        local_time=row["local_time"],
        created_at=row["created_at"],
        rc=row["rc"],
        rrn=row["rrn"],
        auth_code=row["auth_code"],
        host=row["host"],
        code=row["code"],
        reversal_reason=row["reversal_reason"],
        reversal_attempts=row["reversal_attempts"],
        reversal_unanswered=row["reversal_unanswered"],
        reversal_rc=row["reversal_rc"],
        advice_attempts=row["advice_attempts"],
        voided=bool(row["voided"]),
        orig_id=row["orig_id"],
        orig_stan=row["orig_stan"],
        orig_batch=row["orig_batch"],
        orig_date=row["orig_date"],
        orig_rrn=row["orig_rrn"],
        orig_auth=row["orig_auth"],
        completed_at=row["completed_at"],
        training=bool(row["training"]),
    )


def wall_clock() -> float:
    """Wall-clock seconds used for retry schedules (they must survive a restart)."""
    return time.time()
