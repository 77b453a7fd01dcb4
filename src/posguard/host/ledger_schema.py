"""The host ledger's SQLite schema, and the one-time migration of a ledger made before card
numbers were stored as keyed hashes (schema 1: ``cards.pan`` in clear, duplicates keyed by
(terminal, STAN, date)).

Schema 2:

- ``cards`` are keyed by ``pan_ref`` (HMAC-SHA256 of the PAN, :mod:`posguard.host.pan_ref`)
  with ``last4`` for display and the card's ``online_pin`` rule;
- ``accounts`` have a ``currency`` and the ``other_currencies`` the seed lets them take;
- ``transactions`` are unique per (terminal, batch, STAN): a repeat with another field 13 is
  the same transaction; ``card_ref`` says which card made it;
- ``early_reversals``: a reversal that arrived before (or instead of) its original;
- ``recon_exceptions``: every difference batch upload found (the ledger itself is never
  changed by a settlement), with who resolved it, when and why;
- ``settlements.uploading`` is 1 once the end of the batch's upload was processed (a repeated
  end of upload is answered from it); a new 0500 sets it back to 0;
- ``terminal_batches``: each terminal's open batch, the one the host assigns at sign-on
  (field 60.2 of the 0810); settlement closes it and opens the next (added in place to an
  older ledger: ``CREATE TABLE IF NOT EXISTS``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["SCHEMA", "SCHEMA_VERSION", "add_columns", "migrate"]

SCHEMA_VERSION = 2

_ACCOUNTS = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, holder TEXT NOT NULL DEFAULT '',
    balance INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0,
    daily_limit INTEGER NOT NULL, txn_limit INTEGER NOT NULL,
    currency TEXT NOT NULL DEFAULT '156', other_currencies TEXT NOT NULL DEFAULT ''
);
"""
_CARDS = """
CREATE TABLE IF NOT EXISTS cards (
    pan_ref BLOB PRIMARY KEY, last4 TEXT NOT NULL, pan_masked TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    expiry TEXT NOT NULL, pin_salt BLOB NOT NULL, pin_hash BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active','lost','stolen','restricted','blocked')),
    pin_tries INTEGER NOT NULL DEFAULT 0,
    online_pin TEXT NOT NULL DEFAULT 'never' CHECK (online_pin IN ('never','contact','always'))
);
"""
_TRANSACTIONS = """
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, mid TEXT NOT NULL, stan TEXT NOT NULL,
    batch TEXT NOT NULL, txn_date TEXT NOT NULL, host_day TEXT NOT NULL, kind TEXT NOT NULL,
    account_id TEXT, pan_masked TEXT NOT NULL DEFAULT '', amount INTEGER NOT NULL,
    rrn TEXT NOT NULL, auth_code TEXT NOT NULL DEFAULT '', status TEXT NOT NULL CHECK
        (status IN ('approved','declined','reversed','voided','completed')),
    rc TEXT NOT NULL, orig_id INTEGER REFERENCES transactions(id),
    refunded INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'online',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    card_ref BLOB,
    UNIQUE (tid, batch, stan)
);
"""
_TXN_COPY_COLS = (
    "id, tid, mid, stan, batch, txn_date, host_day, kind, account_id, pan_masked, amount, rrn,"
    " auth_code, status, rc, orig_id, refunded, source, created_at"
)

SCHEMA = (
    _ACCOUNTS
    + _CARDS
    + _TRANSACTIONS
    + """
CREATE TABLE IF NOT EXISTS merchants (
    mid TEXT PRIMARY KEY, name TEXT NOT NULL, mcc TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminals (
    tid TEXT PRIMARY KEY, mid TEXT NOT NULL, registered INTEGER NOT NULL,
    tmk_hex TEXT NOT NULL, mac_alg TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unavailable_bins (prefix TEXT PRIMARY KEY, rc TEXT NOT NULL);
-- (tid, batch, stan) is the table's unique key, which also serves batch reads
DROP INDEX IF EXISTS transactions_batch;
CREATE INDEX IF NOT EXISTS transactions_rrn ON transactions (rrn);
DROP INDEX IF EXISTS transactions_spent;
CREATE TABLE IF NOT EXISTS settlements (
    tid TEXT NOT NULL, batch TEXT NOT NULL, terminal_totals TEXT NOT NULL,
    host_totals TEXT NOT NULL, in_balance INTEGER NOT NULL, uploading INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tid, batch)
);
CREATE TABLE IF NOT EXISTS batch_uploads (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, kind TEXT NOT NULL,
    amount INTEGER NOT NULL, card_ref BLOB, pan_masked TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tid, batch, stan)
);
CREATE TABLE IF NOT EXISTS daily_spend (
    account_id TEXT NOT NULL, day TEXT NOT NULL, amount INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE TABLE IF NOT EXISTS early_reversals (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, amount INTEGER,
    card_ref BLOB, reason TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0,
    late_txn_id INTEGER REFERENCES transactions(id),
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (tid, batch, stan)
);
CREATE TABLE IF NOT EXISTS recon_exceptions (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL,
    kind TEXT NOT NULL CHECK
        (kind IN ('missing_on_terminal','missing_on_host','amount_differs')),
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open','resolved')),
    txn_kind TEXT NOT NULL, host_txn_id INTEGER REFERENCES transactions(id),
    host_amount INTEGER, terminal_amount INTEGER, pan_masked TEXT NOT NULL DEFAULT '',
    found_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    resolved_by TEXT, resolved_at TEXT, resolution TEXT,
    UNIQUE (tid, batch, stan, kind)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS terminal_batches (
    tid TEXT PRIMARY KEY, open_batch TEXT NOT NULL CHECK (length(open_batch) = 6),
    opened_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
"""
)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}


def migrate(conn: sqlite3.Connection, pan_ref: Callable[[str], bytes]) -> bool:
    """Bring a schema-1 ledger to schema 2 in one transaction (clear PANs replaced by keyed
    hashes, transactions re-keyed by batch). Returns True when it migrated something."""
    if "pan" not in _columns(conn, "cards"):
        return False
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            acct_cols = _columns(conn, "accounts")
            if "currency" not in acct_cols:
                conn.execute("ALTER TABLE accounts ADD COLUMN currency TEXT NOT NULL DEFAULT '156'")
            if "other_currencies" not in acct_cols:
                conn.execute(
                    "ALTER TABLE accounts ADD COLUMN other_currencies TEXT NOT NULL DEFAULT ''"
                )
            rows = conn.execute(
                "SELECT pan, pan_masked, account_id, expiry, pin_salt, pin_hash, status, pin_tries"
                " FROM cards"
            ).fetchall()
            conn.execute("DROP TABLE cards")
            conn.execute(_CARDS)
            conn.executemany(
                "INSERT INTO cards (pan_ref, last4, pan_masked, account_id, expiry, pin_salt,"
                " pin_hash, status, pin_tries) VALUES (?,?,?,?,?,?,?,?,?)",
                [(pan_ref(r[0]), str(r[0])[-4:], *r[1:]) for r in rows],
            )
            conn.execute("ALTER TABLE transactions RENAME TO transactions_v1")
            conn.execute(_TRANSACTIONS)
            conn.execute(
                f"INSERT OR IGNORE INTO transactions ({_TXN_COPY_COLS})"  # noqa: S608
                f" SELECT {_TXN_COPY_COLS} FROM transactions_v1 ORDER BY id"
            )
            conn.execute("DROP TABLE transactions_v1")
            conn.execute("DROP TABLE IF EXISTS batch_uploads")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("VACUUM")  # the clear PANs must not linger in free pages
    return True


# Columns added to a table after it first shipped: (table, column, declaration).
_ADDED_COLUMNS = (
    ("recon_exceptions", "resolved_by", "TEXT"),
    ("recon_exceptions", "resolved_at", "TEXT"),
    ("recon_exceptions", "resolution", "TEXT"),
)


def add_columns(conn: sqlite3.Connection) -> None:
    """Add, in place, the columns an older ledger's tables lack (run after :data:`SCHEMA`)."""
    for table, column, decl in _ADDED_COLUMNS:
        if column not in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
