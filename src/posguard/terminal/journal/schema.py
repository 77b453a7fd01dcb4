"""The journal's SQL schema (version 3: reversal outcome columns, then the training flag, added
in place to an older file)."""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 3

DDL: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS txns (
    id INTEGER PRIMARY KEY,
    stan TEXT NOT NULL,
    batch TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    card BLOB NOT NULL,
    brand TEXT NOT NULL,
    entry_mode TEXT NOT NULL,
    local_date TEXT NOT NULL,
    local_time TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    rc TEXT,
    rrn TEXT,
    auth_code TEXT,
    host TEXT,
    code TEXT,
    reversal_reason TEXT,
    reversal_attempts INTEGER NOT NULL DEFAULT 0,
    reversal_next_at REAL NOT NULL DEFAULT 0,
    reversal_unanswered INTEGER NOT NULL DEFAULT 0,
    reversal_rc TEXT,
    advice_attempts INTEGER NOT NULL DEFAULT 0,
    advice_next_at REAL NOT NULL DEFAULT 0,
    voided INTEGER NOT NULL DEFAULT 0,
    orig_id INTEGER REFERENCES txns(id),
    orig_stan TEXT,
    orig_batch TEXT,
    orig_date TEXT,
    orig_rrn TEXT,
    orig_auth TEXT,
    UNIQUE (batch, stan)
);
CREATE INDEX IF NOT EXISTS txns_state ON txns(state);
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY,
    batch TEXT NOT NULL,
    ts TEXT NOT NULL,
    debit_count INTEGER NOT NULL,
    debit_amount INTEGER NOT NULL,
    credit_count INTEGER NOT NULL,
    credit_amount INTEGER NOT NULL,
    result TEXT NOT NULL
);
"""

# Columns added after version 1: (name, SQL type and default), added by ALTER TABLE on open.
ADDED_COLUMNS: Final = (
    ("reversal_unanswered", "INTEGER NOT NULL DEFAULT 0"),
    ("reversal_rc", "TEXT"),
    # 1: a training (practice) transaction: marked on the wire, never in totals or uploads
    ("training", "INTEGER NOT NULL DEFAULT 0"),
)
