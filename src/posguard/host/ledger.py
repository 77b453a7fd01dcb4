"""The host's ledger: the issuer's accounts and cards and the acquirer's merchants, terminals and
transactions, in one SQLite database (WAL, ``synchronous=FULL``).

Each authorisation, reversal or reconciliation runs inside :meth:`Ledger.atomic`, one
``BEGIN IMMEDIATE`` transaction, so a crash at any instant leaves either all of a decision or
none of it. The ledger is not thread-safe by itself: the server drives it from one worker
thread, which also serialises the write path.

No clear card number is stored: cards are keyed by a keyed hash of the PAN
(:mod:`posguard.host.pan_ref`, key outside the database) with the last four digits and a masked
copy for display. PINs are stored as salted PBKDF2 hashes. The schema is
:mod:`posguard.host.ledger_schema`.

>>> from posguard.host.seed import default_seed
>>> led = Ledger.open(":memory:")
>>> led.load_seed(default_seed())
>>> led.account("ACC-LI").balance
10000
>>> led.card(default_seed().cards[0].pan).masked
'621483*********0015'
>>> led.card("6214839999999999998") is None
True
"""

# ruff: noqa: S608  -- queries interpolate only the constant column list _TXN_COLS
from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from posguard.card import mask_pan
from posguard.common.errors import ConfigError
from posguard.host.decisions import Effect, Move, Refunded, SetStatus, Spend
from posguard.host.ledger_schema import SCHEMA, add_columns, migrate
from posguard.host.pan_ref import PanRefs, key_path, load_or_create_key
from posguard.host.recon import ExceptionKind, ExceptionState, ReconException
from posguard.host.seed import SeedData

__all__ = [
    "Account",
    "Card",
    "EarlyReversal",
    "Ledger",
    "LedgerWriteError",
    "Merchant",
    "Terminal",
    "Txn",
    "TxnStatus",
    "Upload",
    "hash_pin",
]

PIN_HASH_ITERATIONS = 20_000


class LedgerWriteError(RuntimeError):
    """A transaction that holds part of a failed decision was rolled back whole."""


class TxnStatus:
    APPROVED = "approved"
    DECLINED = "declined"
    REVERSED = "reversed"
    VOIDED = "voided"
    COMPLETED = "completed"


# Not frozen: a card transaction makes one with its new balance (Ledger.move keeps the rows it
# caches current), and a frozen dataclass's __init__ costs ≈ 5x a plain slots class's.
# Treat it as immutable all the same.
@dataclass(slots=True)
class Account:
    id: str
    holder: str
    balance: int
    held: int
    daily_limit: int
    txn_limit: int
    currency: str = "156"
    other_currencies: str = ""

    @property
    def available(self) -> int:
        return self.balance - self.held

    def takes(self, currency: str) -> bool:
        """Whether the account may be charged in ``currency`` (ISO 4217 numeric)."""
        return currency == self.currency or currency in self.other_currencies.split(",")


@dataclass(frozen=True, slots=True)
class Card:
    """A card as the issuer keeps it: ``ref`` is the keyed hash of its PAN."""

    ref: bytes
    masked: str
    account_id: str
    expiry: str
    status: str
    pin_tries: int
    pin_salt: bytes
    pin_hash: bytes
    online_pin: str = "never"

    def __repr__(self) -> str:  # never show the hashes
        return f"Card({self.masked}, status={self.status}, pin_tries={self.pin_tries})"


@dataclass(frozen=True, slots=True)
class EarlyReversal:
    """A reversal that arrived while the host had no original (terminal, batch, STAN): kept so
    that the original, should it arrive late, is never approved."""

    tid: str
    batch: str
    stan: str
    amount: int | None
    card_ref: bytes | None
    reason: str
    late_txn_id: int | None


@dataclass(frozen=True, slots=True)
class Merchant:
    mid: str
    name: str
    mcc: str
    status: str


@dataclass(frozen=True, slots=True)
class Terminal:
    tid: str
    mid: str
    registered: bool
    tmk: bytes
    mac_alg: str

    def __repr__(self) -> str:  # never show the master key
        return f"Terminal({self.tid}, mid={self.mid}, registered={self.registered})"


@dataclass(frozen=True, slots=True)
class Txn:
    id: int
    tid: str
    mid: str
    stan: str
    batch: str
    txn_date: str
    kind: str
    account_id: str | None
    pan_masked: str
    amount: int
    rrn: str
    auth_code: str
    status: str
    rc: str
    orig_id: int | None
    refunded: int
    source: str
    host_day: str


@dataclass(frozen=True, slots=True)
class Upload:
    """One transaction as the terminal reported it in a batch upload (0320, 60.3 ``201``)."""

    stan: str
    kind: str
    amount: int
    card_ref: bytes | None
    pan_masked: str


def hash_pin(pin: str, salt: bytes) -> bytes:
    """Salted PBKDF2-HMAC-SHA256 of a PIN (what the card table stores)."""
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PIN_HASH_ITERATIONS)


class Ledger:
    """Accounts, cards, merchants, terminals and transactions in SQLite."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        refs: PanRefs,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self._conn = conn
        # One cursor for the statements every card request or group runs (BEGIN, COMMIT, the
        # transaction row, the account, the day's spend): Connection.execute makes a cursor
        # per call and registers it with the connection (≈ 0.3 us a statement).
        self._hot = conn.cursor()
        self.path = path
        self.refs = refs
        self._synchronous = synchronous
        self._wal_sync_deferred = False
        self._wal_fd: int | None = None
        self._wal_fd_lock = threading.Lock()
        # Terminals, merchants and unavailable BINs change only through load_seed(): cached.
        self._terminals: dict[str, Terminal | None] = {}
        self._merchants: dict[str, Merchant | None] = {}
        self._bins: list[tuple[str, str]] | None = None
        # The RRN counter lives in memory and is written to ``meta`` once per transaction,
        # just before its COMMIT (a rolled-back RRN is skipped, never reused).
        self._rrn: int | None = None
        self._rrn_dirty = False
        # Whether early_reversals has any row, set when this ledger adds one: while it is
        # empty, which is nearly always, a card transaction's read skips that lookup.
        self._any_early: bool | None = None
        # Each terminal's open batch (terminal_batches), read once and kept up to date by
        # set_open_batch.
        self._open_batches: dict[str, str | None] = {}
        # Cards, accounts and the day's spend read by card transactions, kept up to date by
        # this ledger's own writes (move, add_spent, set_pin_tries) and used inside write
        # transactions only, like the open batches.
        self._cards: dict[bytes, Card] = {}
        self._accounts: dict[str, Account] = {}
        self._spent: dict[tuple[str, str], int] = {}
        # The RRN counter, the early-reversal flag and the open batches are kept from one write
        # transaction to the next while no other connection has committed in between (SQLite's
        # ``PRAGMA data_version``, read at each BEGIN); otherwise they are read again.
        self._data_version: int | None = None
        # Set when a decision() failed after it had written: the open transaction holds part of
        # a decision, so it must roll back whole (see decision()).
        self._poisoned = False

    def _forget_static(self) -> None:
        self._terminals.clear()
        self._merchants.clear()
        self._bins = None
        self._forget_state()

    def _forget_state(self) -> None:
        """Drop what is cached of rows other writers may change (read again when needed)."""
        self._rrn = None
        self._rrn_dirty = False
        self._any_early = None
        self._forget_rows()
        self._data_version = None

    def _forget_rows(self) -> None:
        self._open_batches.clear()
        self._cards.clear()
        self._accounts.clear()
        self._spent.clear()

    @classmethod
    def open(cls, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> Ledger:
        """Open (creating if needed) a ledger; ``":memory:"`` for a throw-away one.

        ``synchronous="FULL"`` (default) fsyncs every commit: a decision survives power loss.
        ``"NORMAL"`` survives a crash of the process but not of the machine (labs, load tests).
        """
        where = str(path)
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigError("synchronous must be FULL or NORMAL", value=synchronous)
        try:
            conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            had_key = where == ":memory:" or key_path(where).exists()
            refs = PanRefs(load_or_create_key(where))
            migrated = migrate(conn, refs.ref)
            conn.executescript(SCHEMA)
            add_columns(conn)
            if not (had_key or migrated) and conn.execute("SELECT 1 FROM cards").fetchone():
                conn.close()
                key_path(where).unlink()
                raise ConfigError(
                    "the ledger has cards but its PAN hash key file is missing: restore it",
                    path=str(key_path(where)),
                )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open host ledger: {exc}", path=where) from exc
        return cls(conn, where, refs, synchronous)

    def defer_wal_sync(self) -> bool:
        """Under ``synchronous=FULL``, stop fsyncing the write-ahead log at each COMMIT and leave
        it to the caller, who must call :meth:`sync_wal` after a COMMIT and before telling
        anyone about what it committed (the group committer does, on another thread, while the
        next group is decided). SQLite still syncs around checkpoints itself
        (``synchronous=NORMAL``). True when the caller now owns the sync."""
        if self._synchronous != "FULL" or self.path == ":memory:":
            return False
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._wal_sync_deferred = True
        return True

    def sync_wal(self) -> None:
        """Make every transaction committed so far durable (``fdatasync`` of the WAL file).
        Thread-safe: it touches only its own descriptor of the file."""
        if not self._wal_sync_deferred:
            return
        with self._wal_fd_lock:
            if self._wal_fd is None:
                self._wal_fd = os.open(self.path + "-wal", os.O_RDONLY)
                folder = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
                try:  # the WAL file's directory entry too (it is created on the first write)
                    os.fsync(folder)
                finally:
                    os.close(folder)
            fd = self._wal_fd
        os.fdatasync(fd)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (a clean stop leaves no WAL)."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        if self._wal_sync_deferred:
            self._conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._conn.close()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None

    def decision(self) -> AbstractContextManager[None]:
        """The transaction of one decision that writes only once it is decided (the issuer's
        card transactions: every check first, then the debit, the day's spend and the
        transaction row).

        Alone it is :meth:`atomic`. Inside an open transaction (the server's group) it takes no
        savepoint: a decision that fails before its first write leaves nothing to undo and
        fails alone; one that fails after writing (an SQLite error between its statements)
        marks the transaction, which then rolls back whole at its end, and every request of the
        group fails as if its commit had failed. Nothing half-written is ever committed.
        (A plain class, not a generator: it is entered on every card request.)
        """
        if not self._conn.in_transaction:
            return self.atomic()
        return _InGroupDecision(self)

    def _mark_poisoned(self) -> None:
        self._poisoned = True

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction: everything inside commits together or not at all.

        Nested inside another ``atomic()`` it is a savepoint: it rolls back alone on error and
        becomes durable with the outer commit (the server's group commit uses this).
        """
        if self._conn.in_transaction:
            self._conn.execute("SAVEPOINT decision")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK TO decision")
                self._conn.execute("RELEASE decision")
                self._forget_rows()  # the decision may have changed cached rows
                raise
            self._conn.execute("RELEASE decision")
            return
        hot = self._hot
        hot.execute("BEGIN IMMEDIATE")
        self._poisoned = False
        # Under the write lock: has another connection committed since our last transaction?
        version = hot.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._forget_state()
            self._data_version = version
        try:
            yield
            if self._poisoned:
                raise LedgerWriteError("a decision failed while writing: all of it rolls back")
            if self._rrn_dirty:
                hot.execute(
                    "INSERT INTO meta VALUES ('rrn', ?) ON CONFLICT(key) DO UPDATE"
                    " SET value=max(value, excluded.value)",
                    (self._rrn,),
                )
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._poisoned = False
            self._forget_static()  # cached rows may describe rolled-back state
            raise
        try:
            hot.execute("COMMIT")
        except BaseException:  # e.g. disk full or I/O error at the fsync: nothing is durable
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._forget_static()
            raise
        self._rrn_dirty = False

    # -- seed ---------------------------------------------------------------------------------

    def load_seed(self, seed: SeedData) -> None:
        """Insert or replace every row of ``seed`` in one transaction."""
        c = self._conn
        self._forget_static()
        with self.atomic():
            for a in seed.accounts:
                c.execute(
                    "INSERT OR REPLACE INTO accounts (id, holder, balance, held, daily_limit,"
                    " txn_limit, currency, other_currencies) VALUES (?,?,?,0,?,?,?,?)",
                    (
                        a.id,
                        a.holder,
                        a.balance,
                        a.daily_limit,
                        a.txn_limit,
                        a.currency,
                        ",".join(a.other_currencies),
                    ),
                )
            for card in seed.cards:
                salt = os.urandom(16)
                c.execute(
                    "INSERT OR REPLACE INTO cards (pan_ref, last4, pan_masked, account_id, expiry,"
                    " pin_salt, pin_hash, status, pin_tries, online_pin)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        self.refs.ref(card.pan),
                        card.pan[-4:],
                        mask_pan(card.pan),
                        card.account,
                        card.expiry,
                        salt,
                        hash_pin(card.pin, salt),
                        card.status,
                        card.pin_tries,
                        card.online_pin,
                    ),
                )
            for m in seed.merchants:
                c.execute(
                    "INSERT OR REPLACE INTO merchants VALUES (?,?,?,?)",
                    (m.mid, m.name, m.mcc, m.status),
                )
            for t in seed.terminals:
                c.execute(
                    "INSERT OR REPLACE INTO terminals VALUES (?,?,?,?,?)",
                    (t.tid, t.mid, int(t.registered), t.tmk, t.mac),
                )
            for b in seed.unavailable_bins:
                c.execute("INSERT OR REPLACE INTO unavailable_bins VALUES (?,?)", (b.prefix, b.rc))

    def set_issuer_unavailable(self, prefix: str, rc: str | None) -> None:
        """Mark the BIN range ``prefix`` down (answered ``rc``, e.g. 91) or, with ``rc=None``,
        reachable again. Run it on the ledger's thread, like every write."""
        if not (prefix.isdigit() and 1 <= len(prefix) <= 11):
            raise ConfigError("a BIN prefix is 1 to 11 digits", prefix=prefix)
        if rc is not None and rc not in ("91", "92", "98"):
            raise ConfigError("an unavailable issuer answers 91, 92 or 98", rc=rc)
        with self.atomic():
            if rc is None:
                self._conn.execute("DELETE FROM unavailable_bins WHERE prefix=?", (prefix,))
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO unavailable_bins VALUES (?,?)", (prefix, rc)
                )
        self._bins = None

    # -- reads --------------------------------------------------------------------------------

    def account(self, account_id: str) -> Account | None:
        row = self._conn.execute(
            "SELECT id, holder, balance, held, daily_limit, txn_limit, currency,"
            " other_currencies FROM accounts WHERE id=?",
            (account_id,),
        ).fetchone()
        return Account(*row) if row else None

    def card(self, pan: str) -> Card | None:
        row = self._conn.execute(
            f"SELECT {_CARD_COLS} FROM cards c WHERE pan_ref=?", (self.refs.ref(pan),)
        ).fetchone()
        return Card(*row) if row else None

    def card_facts(self, ref: bytes, day: str) -> tuple[Card, Account, int] | None:
        """The card (by its keyed hash ``ref``), its account and the account's approved debits
        on host day ``day``; None for a card the issuer does not know. Inside a write
        transaction the rows come from what this ledger last read or wrote of them."""
        cached = self._conn.in_transaction
        if cached:
            card = self._cards.get(ref)
            if card is not None:
                acct = self._accounts.get(card.account_id)
                spent = self._spent.get((card.account_id, day))
                if acct is not None and spent is not None:
                    return card, acct, spent
        row = self._conn.execute(_CARD_FACTS, (day, ref)).fetchone()
        if row is None:  # no such card, or (foreign keys broken) no such account
            return None
        card, acct, spent = Card(*row[:9]), Account(*row[9:17]), int(row[17])
        if cached:
            self._cards[ref] = card
            self._accounts[acct.id] = acct
            self._spent[acct.id, day] = spent
        return card, acct, spent

    def reversed_first(self, tid: str, batch: str, stan: str) -> bool:
        """Whether a reversal of (terminal, batch, STAN) arrived before the transaction."""
        if not self._early_possible():
            return False
        row = self._conn.execute(
            "SELECT EXISTS(SELECT 1 FROM early_reversals WHERE tid=? AND batch=? AND stan=?)",
            (tid, batch, stan),
        ).fetchone()
        return bool(row[0])

    def merchant(self, mid: str) -> Merchant | None:
        if mid not in self._merchants:
            row = self._conn.execute("SELECT * FROM merchants WHERE mid=?", (mid,)).fetchone()
            self._merchants[mid] = Merchant(*row) if row else None
        return self._merchants[mid]

    def terminal(self, tid: str) -> Terminal | None:
        if tid not in self._terminals:
            row = self._conn.execute("SELECT * FROM terminals WHERE tid=?", (tid,)).fetchone()
            self._terminals[tid] = (
                Terminal(row[0], row[1], bool(row[2]), bytes.fromhex(row[3]), row[4])
                if row
                else None
            )
        return self._terminals[tid]

    def unavailable_rc(self, pan: str) -> str | None:
        """The response code configured for ``pan``'s BIN range when its issuer is down."""
        if self._bins is None:
            rows = self._conn.execute("SELECT prefix, rc FROM unavailable_bins").fetchall()
            self._bins = sorted(((str(p), str(rc)) for p, rc in rows), key=lambda r: -len(r[0]))
        for prefix, rc in self._bins:  # longest prefix first
            if pan.startswith(prefix):
                return rc
        return None

    def balance_of_card(self, pan: str) -> int:
        """Ledger balance of the account behind ``pan`` (test and CLI helper)."""
        card = self.card(pan)
        if card is None:
            raise KeyError("no such card")
        acct = self.account(card.account_id)
        assert acct is not None
        return acct.balance

    def verify_pin(self, card: Card, pin: str) -> bool:
        return hmac.compare_digest(hash_pin(pin, card.pin_salt), card.pin_hash)

    def txn(self, txn_id: int) -> Txn | None:
        row = self._conn.execute(
            f"SELECT {_TXN_COLS} FROM transactions WHERE id=?",
            (txn_id,),
        ).fetchone()
        return Txn(*row) if row else None

    def find_txn(self, tid: str, stan: str, batch: str) -> Txn | None:
        """The transaction a reversal or upload refers to: (terminal, STAN, batch)."""
        row = self._conn.execute(
            f"SELECT {_TXN_COLS} FROM transactions WHERE tid=? AND stan=? AND batch=?"
            " ORDER BY id DESC LIMIT 1",
            (tid, stan, batch),
        ).fetchone()
        return Txn(*row) if row else None

    def find_by_rrn(self, tid: str, rrn: str) -> Txn | None:
        row = self._conn.execute(
            f"SELECT {_TXN_COLS} FROM transactions WHERE tid=? AND rrn=? LIMIT 1",
            (tid, rrn),
        ).fetchone()
        return Txn(*row) if row else None

    def _early_possible(self) -> bool:
        if self._any_early is None:
            found = self._conn.execute("SELECT EXISTS(SELECT 1 FROM early_reversals)")
            self._any_early = bool(found.fetchone()[0])
        return self._any_early

    def early_reversal(self, tid: str, batch: str, stan: str) -> EarlyReversal | None:
        row = self._conn.execute(
            "SELECT tid, batch, stan, amount, card_ref, reason, late_txn_id FROM early_reversals"
            " WHERE tid=? AND batch=? AND stan=?",
            (tid, batch, stan),
        ).fetchone()
        return EarlyReversal(*row) if row else None

    def record_early_reversal(
        self,
        tid: str,
        batch: str,
        stan: str,
        amount: int | None,
        card_ref: bytes | None,
        reason: str,
    ) -> None:
        """Remember a reversal of an original the host does not have (a repeat counts once)."""
        self._any_early = True
        self._conn.execute(
            "INSERT INTO early_reversals (tid, batch, stan, amount, card_ref, reason)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(tid, batch, stan)"
            " DO UPDATE SET repeats=repeats+1",
            (tid, batch, stan, amount, card_ref, reason),
        )

    def link_late_original(self, tid: str, batch: str, stan: str, txn_id: int) -> None:
        self._conn.execute(
            "UPDATE early_reversals SET late_txn_id=? WHERE tid=? AND batch=? AND stan=?",
            (txn_id, tid, batch, stan),
        )

    def early_reversals(self, tid: str | None = None) -> list[EarlyReversal]:
        sql = "SELECT tid, batch, stan, amount, card_ref, reason, late_txn_id FROM early_reversals"
        rows = (
            self._conn.execute(sql + " WHERE tid=? ORDER BY rowid", (tid,))
            if tid
            else self._conn.execute(sql + " ORDER BY rowid")
        ).fetchall()
        return [EarlyReversal(*r) for r in rows]

    def spent_on(self, account_id: str, host_day: str) -> int:
        """Approved debits (sales, completions still standing) of an account on one host day,
        kept as a running total by :meth:`add_spent` (O(1), however busy the account)."""
        row = self._conn.execute(
            "SELECT amount FROM daily_spend WHERE account_id=? AND day=?", (account_id, host_day)
        ).fetchone()
        return int(row[0]) if row else 0

    def add_spent(self, account_id: str, host_day: str, delta: int) -> None:
        self._hot.execute(
            "INSERT INTO daily_spend VALUES (?,?,?) ON CONFLICT(account_id, day)"
            " DO UPDATE SET amount=amount+excluded.amount",
            (account_id, host_day, delta),
        )
        key = (account_id, host_day)
        if key in self._spent:
            self._spent[key] += delta

    def batch_txns(self, tid: str, batch: str) -> list[Txn]:
        rows = self._conn.execute(
            f"SELECT {_TXN_COLS} FROM transactions WHERE tid=? AND batch=? ORDER BY id",
            (tid, batch),
        ).fetchall()
        return [Txn(*r) for r in rows]

    def transactions(self, tid: str | None = None) -> list[Txn]:
        sql = f"SELECT {_TXN_COLS} FROM transactions"
        rows = (
            self._conn.execute(sql + " WHERE tid=? ORDER BY id", (tid,))
            if tid
            else self._conn.execute(sql + " ORDER BY id")
        ).fetchall()
        return [Txn(*r) for r in rows]

    # -- writes (call inside atomic()) --------------------------------------------------------

    def next_rrn(self) -> str:
        """The next retrieval reference number. Counted in memory; the counter reaches ``meta``
        with the commit of the transaction that used it (call inside :meth:`atomic`)."""
        if self._rrn is None:
            row = self._conn.execute("SELECT value FROM meta WHERE key='rrn'").fetchone()
            self._rrn = int(row[0]) if row else 0
        self._rrn += 1
        self._rrn_dirty = True
        return f"{self._rrn:012d}"

    def unuse_rrn(self, rrn: str) -> None:
        """Give back ``rrn`` when it was the last one handed out and nothing recorded it."""
        if self._rrn is not None and self._rrn == int(rrn):
            self._rrn -= 1

    def insert_txn(
        self,
        *,
        tid: str,
        mid: str,
        stan: str,
        batch: str,
        txn_date: str,
        host_day: str,
        kind: str,
        account_id: str | None,
        pan_masked: str,
        amount: int,
        rrn: str,
        auth_code: str,
        status: str,
        rc: str,
        orig_id: int | None = None,
        source: str = "online",
        card_ref: bytes | None = None,
    ) -> int | None:
        """The new transaction's id; None, and nothing written, when (terminal, batch, STAN)
        is a transaction already (a duplicate)."""
        cur = self._hot
        cur.execute(
            "INSERT INTO transactions (tid, mid, stan, batch, txn_date, host_day, kind,"
            " account_id, pan_masked, amount, rrn, auth_code, status, rc, orig_id, source,"
            " card_ref) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(tid, batch, stan) DO NOTHING",
            (
                tid,
                mid,
                stan,
                batch,
                txn_date,
                host_day,
                kind,
                account_id,
                pan_masked,
                amount,
                rrn,
                auth_code,
                status,
                rc,
                orig_id,
                source,
                card_ref,
            ),
        )
        return cur.lastrowid if cur.rowcount == 1 else None

    def set_status(self, txn_id: int, status: str) -> None:
        self._conn.execute("UPDATE transactions SET status=? WHERE id=?", (status, txn_id))

    def add_refunded(self, txn_id: int, amount: int) -> None:
        self._conn.execute(
            "UPDATE transactions SET refunded=refunded+? WHERE id=?", (amount, txn_id)
        )

    def move(self, account_id: str, *, balance: int = 0, held: int = 0) -> None:
        """Change an account's balance and/or hold by signed deltas."""
        self._hot.execute(
            "UPDATE accounts SET balance=balance+?, held=held+? WHERE id=?",
            (balance, held, account_id),
        )
        a = self._accounts.get(account_id)
        if a is not None:
            self._accounts[account_id] = Account(
                a.id, a.holder, a.balance + balance, a.held + held, a.daily_limit, a.txn_limit,
                a.currency, a.other_currencies,
            )  # fmt: skip

    def set_pin_tries(self, ref: bytes, tries: int) -> None:
        self._conn.execute("UPDATE cards SET pin_tries=? WHERE pan_ref=?", (tries, ref))
        c = self._cards.get(ref)
        if c is not None:
            self._cards[ref] = Card(
                c.ref, c.masked, c.account_id, c.expiry, c.status, tries, c.pin_salt,
                c.pin_hash, c.online_pin,
            )  # fmt: skip

    def apply(self, effects: Iterable[Effect]) -> None:
        """Write a decision's effects (call inside :meth:`atomic` or :meth:`decision`)."""
        for e in effects:
            if isinstance(e, Move):
                self.move(e.account_id, balance=e.balance, held=e.held)
            elif isinstance(e, Spend):
                self.add_spent(e.account_id, e.day, e.amount)
            elif isinstance(e, SetStatus):
                self.set_status(e.txn_id, e.status)
            elif isinstance(e, Refunded):
                self.add_refunded(e.txn_id, e.amount)
            else:
                self.set_pin_tries(e.card_ref, e.tries)

    def card_ref_of(self, txn_id: int) -> bytes | None:
        """The keyed hash of the card that made transaction ``txn_id``."""
        row = self._conn.execute("SELECT card_ref FROM transactions WHERE id=?", (txn_id,))
        found = row.fetchone()
        return bytes(found[0]) if found and found[0] is not None else None

    def record_settlement(
        self,
        tid: str,
        batch: str,
        terminal_totals: str,
        host_totals: str,
        in_balance: bool,
        *,
        upload_ended: bool = False,
    ) -> None:
        """The batch's reconciliation as it stands; ``upload_ended`` once the end of its batch
        upload was processed (kept in the ``uploading`` column: 1 = ended)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO settlements VALUES (?,?,?,?,?,?)",
            (tid, batch, terminal_totals, host_totals, int(in_balance), int(upload_ended)),
        )

    def upload_ended(self, tid: str, batch: str) -> bool:
        """Whether the end of the batch upload was processed since the batch's last 0500."""
        row = self._conn.execute(
            "SELECT uploading FROM settlements WHERE tid=? AND batch=?", (tid, batch)
        ).fetchone()
        return bool(row and row[0])

    def settlement(self, tid: str, batch: str) -> tuple[str, str, bool] | None:
        row = self._conn.execute(
            "SELECT terminal_totals, host_totals, in_balance FROM settlements"
            " WHERE tid=? AND batch=?",
            (tid, batch),
        ).fetchone()
        return (str(row[0]), str(row[1]), bool(row[2])) if row else None

    def record_upload(self, tid: str, batch: str, upload: Upload) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO batch_uploads VALUES (?,?,?,?,?,?,?)",
            (
                tid,
                batch,
                upload.stan,
                upload.kind,
                upload.amount,
                upload.card_ref,
                upload.pan_masked,
            ),
        )

    def uploads(self, tid: str, batch: str) -> dict[str, Upload]:
        rows = self._conn.execute(
            "SELECT stan, kind, amount, card_ref, pan_masked FROM batch_uploads"
            " WHERE tid=? AND batch=?",
            (tid, batch),
        ).fetchall()
        return {str(r[0]): Upload(*r) for r in rows}

    def clear_uploads(self, tid: str, batch: str) -> None:
        self._conn.execute("DELETE FROM batch_uploads WHERE tid=? AND batch=?", (tid, batch))

    # -- batches ------------------------------------------------------------------------------

    def open_batch(self, tid: str) -> str | None:
        """The batch the host has open for ``tid`` (None before its first sign-on)."""
        if tid in self._open_batches and self._conn.in_transaction:
            return self._open_batches[tid]
        row = self._conn.execute(
            "SELECT open_batch FROM terminal_batches WHERE tid=?", (tid,)
        ).fetchone()
        batch = str(row[0]) if row else None
        if self._conn.in_transaction:  # outside one, another writer may change it any time
            self._open_batches[tid] = batch
        return batch

    def set_open_batch(self, tid: str, batch: str) -> None:
        self._open_batches[tid] = batch
        self._conn.execute(
            "INSERT INTO terminal_batches (tid, open_batch) VALUES (?,?) ON CONFLICT(tid)"
            " DO UPDATE SET open_batch=excluded.open_batch,"
            " opened_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')",
            (tid, batch),
        )

    def last_settled_batch(self, tid: str) -> str | None:
        """The highest batch number of ``tid`` that has a settlement record."""
        row = self._conn.execute("SELECT max(batch) FROM settlements WHERE tid=?", (tid,))
        found = row.fetchone()
        return str(found[0]) if found and found[0] is not None else None

    # -- reconciliation exceptions ------------------------------------------------------------

    def record_exception(self, exc: ReconException) -> bool:
        """Record one difference; a difference already recorded (same terminal, batch, STAN and
        kind: a repeated upload) is kept as it is. True when it is new."""
        cur = self._conn.execute(
            "INSERT INTO recon_exceptions (tid, batch, stan, kind, state, txn_kind, host_txn_id,"
            " host_amount, terminal_amount, pan_masked) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(tid, batch, stan, kind) DO NOTHING",
            (
                exc.tid,
                exc.batch,
                exc.stan,
                exc.kind.value,
                exc.state.value,
                exc.txn_kind,
                exc.host_txn_id,
                exc.host_amount,
                exc.terminal_amount,
                exc.pan_masked,
            ),
        )
        return cur.rowcount == 1

    def exceptions(
        self, *, tid: str | None = None, batch: str | None = None, state: str | None = None
    ) -> list[ReconException]:
        """Recorded differences, oldest first, filtered by terminal, batch and state."""
        where, args = [], []
        for col, value in (("tid", tid), ("batch", batch), ("state", state)):
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        sql = _EXCEPTION_SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_exception(r) for r in rows]

    def resolve_exception(self, exc_id: int, *, by: str, reason: str, at: str) -> ReconException:
        """Mark exception ``exc_id`` resolved, by whom, when (UTC ISO time) and why. Refused
        (ConfigError) for an unknown id, one already resolved, or an empty ``by``/``reason``;
        nothing is changed then."""
        if not by.strip() or not reason.strip():
            raise ConfigError("resolving an exception needs who and why", id=exc_id)
        with self.atomic():
            row = self._conn.execute(_EXCEPTION_SELECT + " WHERE id=?", (exc_id,)).fetchone()
            if row is None:
                raise ConfigError(f"no reconciliation exception {exc_id}", id=exc_id)
            found = _exception(row)
            if found.state is ExceptionState.RESOLVED:
                raise ConfigError(
                    f"reconciliation exception {exc_id} is already resolved"
                    f" (by {found.resolved_by} at {found.resolved_at})",
                    id=exc_id,
                )
            self._conn.execute(
                "UPDATE recon_exceptions SET state='resolved', resolved_by=?, resolved_at=?,"
                " resolution=? WHERE id=? AND state='open'",
                (by, at, reason, exc_id),
            )
            row = self._conn.execute(_EXCEPTION_SELECT + " WHERE id=?", (exc_id,)).fetchone()
            return _exception(row)


class _InGroupDecision:
    """:meth:`Ledger.decision` inside an open transaction: a failure after the decision wrote
    marks the transaction to roll back whole."""

    __slots__ = ("_before", "_conn", "_ledger")

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._conn = ledger._conn
        self._before = 0

    def __enter__(self) -> None:
        self._before = self._conn.total_changes

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        if exc_type is not None and self._conn.total_changes != self._before:
            self._ledger._mark_poisoned()


_EXCEPTION_SELECT = (
    "SELECT tid, batch, stan, kind, txn_kind, host_txn_id, host_amount, terminal_amount,"
    " pan_masked, state, id, found_at, resolved_by, resolved_at, resolution"
    " FROM recon_exceptions"
)


def _exception(r: Any) -> ReconException:
    """A ``recon_exceptions`` row, columns as in :data:`_EXCEPTION_SELECT`."""
    kind, state = ExceptionKind(r[3]), ExceptionState(r[9])
    return ReconException(
        r[0], r[1], r[2], kind, r[4], r[5], r[6], r[7], r[8], state, r[10], r[11], r[12], r[13],
        r[14],
    )  # fmt: skip


_TXN_COLS = (
    "id, tid, mid, stan, batch, txn_date, kind, account_id, pan_masked, amount, rrn,"
    " auth_code, status, rc, orig_id, refunded, source, host_day"
)

_CARD_COLS = (
    "c.pan_ref, c.pan_masked, c.account_id, c.expiry, c.status, c.pin_tries, c.pin_salt,"
    " c.pin_hash, c.online_pin"
)

# The card (9 columns), its account (8) and the account's approved debits on a day.
_CARD_FACTS = (
    f"SELECT {_CARD_COLS}, a.id, a.holder, a.balance, a.held, a.daily_limit, a.txn_limit,"
    " a.currency, a.other_currencies, coalesce(d.amount, 0)"
    " FROM cards c JOIN accounts a ON a.id = c.account_id"
    " LEFT JOIN daily_spend d ON d.account_id = c.account_id AND d.day = ?"
    " WHERE c.pan_ref = ?"
)
