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
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class PreparedRows:
    """Rows made ready for one dialect's insert: the Python half of an insert, which needs no
    connection (and no write lock), so it can run while another batch is being written."""

    dialect: str
    count: int
    statements: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # SQLite: (sql, flat params)
    rows: Sequence[EventInsert] = ()  # PostgreSQL: the rows as given, for COPY
    received_at: datetime | None = None


def prepare_event_rows(
    dialect: str, rows: Sequence[EventInsert], received_at: datetime
) -> PreparedRows:
    """The statements and parameters :func:`write_prepared_rows` runs for ``rows``."""
    if dialect == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35):
            raise ConfigError(
                f"the fleet needs SQLite 3.35 or newer (INSERT .. RETURNING); this Python links "
                f"SQLite {sqlite3.sqlite_version}: use PostgreSQL or a newer Python/SQLite build"
            )
        statements = tuple(
            (
                sqlite_batch_sql(len(rows[i : i + CHUNK])),
                sqlite_params(rows[i : i + CHUNK], received_at),
            )
            for i in range(0, len(rows), CHUNK)
        )
        return PreparedRows(dialect, len(rows), statements=statements)
    if dialect == "postgresql":
        return PreparedRows(dialect, len(rows), rows=rows, received_at=received_at)
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")


def _sqlite(conn: Connection, prepared: PreparedRows) -> set[Any]:
    stored: set[Any] = set()
    for sql, params in prepared.statements:
        result = conn.exec_driver_sql(sql, params)
        stored.update(tuple(r) for r in result.fetchall())
    return stored


def _postgresql(conn: Connection, prepared: PreparedRows) -> set[Any]:
    import psycopg

    cursor: Any = conn.connection.cursor()
    sql = _PG_STAGE
    try:
        cursor.execute(_PG_STAGE)
        sql = _PG_COPY
        with cursor.copy(_PG_COPY) as copy:
            for row in prepared.rows:
                copy.write_row(row)
        sql = _PG_MOVE
        cursor.execute(_PG_MOVE, (prepared.received_at,))
        stored = set(cursor.fetchall())
        # a second call in the same transaction must not see these rows again
        sql = _PG_CLEAR
        cursor.execute(_PG_CLEAR)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc
    finally:
        cursor.close()
    return stored


def write_prepared_rows(session: Session, prepared: PreparedRows) -> set[tuple[str, int]]:
    """Run prepared inserts in the session's transaction; returns the keys stored now."""
    if not prepared.count:
        return set()
    conn = session.connection()
    if conn.dialect.name != prepared.dialect:
        raise ValueError(f"rows prepared for {prepared.dialect}, session on {conn.dialect.name}")
    if prepared.dialect == "sqlite":
        return _sqlite(conn, prepared)
    return _postgresql(conn, prepared)


def insert_event_rows(
    session: Session, *, rows: Sequence[EventInsert], received_at: datetime
) -> set[tuple[str, int]]:
    """Insert rows whose (terminal_id, seq) is not stored yet; returns the keys stored now.
    The keys in ``rows`` must be distinct; every row gets ``received_at``."""
    if not rows:
        return set()
    dialect = session.connection().dialect.name
    return write_prepared_rows(session, prepare_event_rows(dialect, rows, received_at))
