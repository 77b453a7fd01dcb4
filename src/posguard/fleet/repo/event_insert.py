"""Idempotent batched event inserts that report which rows they stored.

Both dialects end in ``INSERT .. ON CONFLICT (terminal_id, seq) DO NOTHING RETURNING
terminal_id, seq``: the database itself says which rows are new, so a resend, or the same key
written by another worker at the same moment, is never counted as stored twice.

- SQLite: one multi-row ``VALUES`` statement per :data:`CHUNK` rows (measured ≈2× the rate of
  ``executemany`` of the one-row statement).
- PostgreSQL: the batch is ``COPY``-ed into a session-local temporary table (``ON COMMIT DELETE
  ROWS``), then moved with one ``INSERT .. SELECT``. Measured against the alternatives on the
  same server: COPY + INSERT SELECT ≈60k rows/s, ``executemany`` ≈53k, ``unnest`` of one
  array per column ≈39k, multi-row ``VALUES`` ≈24k (500-row batches, one commit each).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from posguard.common.errors import ConfigError

CHUNK = 1000  # rows per SQLite statement (8,000 variables, well under its 32,766 limit)

EventInsert = tuple[str, str, int, datetime, str, str | None, str]
"""One row to insert: terminal_id, merchant_id, seq, ts (aware), kind, code, data as JSON text."""

_INTO = "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, data) "
_ONCE = "ON CONFLICT (terminal_id, seq) DO NOTHING"
_RETURNING = " RETURNING terminal_id, seq"

_PG_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS posguard_events_in (terminal_id text, merchant_id "
    "text, seq int8, ts timestamptz, kind text, code text, data text) ON COMMIT DELETE ROWS"
)
_PG_COPY = "COPY posguard_events_in FROM STDIN"
_PG_MOVE = (
    "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, data) "
    "SELECT terminal_id, merchant_id, seq, ts, %s, kind, code, data::json "
    "FROM posguard_events_in ON CONFLICT (terminal_id, seq) DO NOTHING "
    "RETURNING terminal_id, seq"
)
_PG_CLEAR = "DELETE FROM posguard_events_in"


def sqlite_time(ts: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC), so reads parse it back."""
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@lru_cache(maxsize=64)
def sqlite_batch_sql(n: int) -> str:
    """The multi-row statement for ``n`` rows (parameters: 8 per row, in column order)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * n)
    return _INTO + "VALUES " + values + " " + _ONCE + _RETURNING


def sqlite_params(rows: Sequence[EventInsert], received_at: datetime) -> tuple[Any, ...]:
    """The flat parameters of :func:`sqlite_batch_sql` (times as :func:`sqlite_time` text)."""
    rec = sqlite_time(received_at)
    out: list[Any] = []
    extend = out.extend
    for tid, mid, seq, ts, kind, code, data in rows:
        offset = ts.utcoffset()
        if offset:  # to UTC by its own offset: the same as astimezone(UTC), half the cost
            ts = ts - offset
        stamp = ts.replace(tzinfo=None).isoformat(" ", "microseconds")
        extend((tid, mid, seq, stamp, rec, kind, code, data))
    return tuple(out)


def _sqlite(conn: Connection, rows: Sequence[EventInsert], received_at: datetime) -> set[Any]:
    if sqlite3.sqlite_version_info < (3, 35):
        raise ConfigError(
            f"the fleet needs SQLite 3.35 or newer (INSERT .. RETURNING); this Python links "
            f"SQLite {sqlite3.sqlite_version}: use PostgreSQL or a newer Python/SQLite build"
        )
    stored: set[Any] = set()
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i : i + CHUNK]
        result = conn.exec_driver_sql(
            sqlite_batch_sql(len(chunk)), sqlite_params(chunk, received_at)
        )
        stored.update(tuple(r) for r in result.fetchall())
    return stored


def _postgresql(conn: Connection, rows: Sequence[EventInsert], received_at: datetime) -> set[Any]:
    import psycopg

    cursor: Any = conn.connection.cursor()
    sql = _PG_STAGE
    try:
        cursor.execute(_PG_STAGE)
        sql = _PG_COPY
        with cursor.copy(_PG_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        sql = _PG_MOVE
        cursor.execute(_PG_MOVE, (received_at,))
        stored = set(cursor.fetchall())
        # a second call in the same transaction must not see these rows again
        sql = _PG_CLEAR
        cursor.execute(_PG_CLEAR)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc
    finally:
        cursor.close()
    return stored


def insert_event_rows(
    session: Session, *, rows: Sequence[EventInsert], received_at: datetime
) -> set[tuple[str, int]]:
    """Insert rows whose (terminal_id, seq) is not stored yet; returns the keys stored now.
    The keys in ``rows`` must be distinct; every row gets ``received_at``."""
    if not rows:
        return set()
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return _sqlite(conn, rows, received_at)
    if dialect == "postgresql":
        return _postgresql(conn, rows, received_at)
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")
