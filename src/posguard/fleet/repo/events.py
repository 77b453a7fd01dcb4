"""Events: batched idempotent inserts (``ON CONFLICT DO NOTHING .. RETURNING`` on both dialects)
and reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow

CHUNK = 1000  # rows per statement (8,000 SQLite variables, well under its 32,766 limit)
_INTO = "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, data) "
_ONCE = "ON CONFLICT (terminal_id, seq) DO NOTHING"
# the plain per-row statement (kept as the benchmark's raw ``executemany`` baseline)
INSERT_SQL = {
    "sqlite": _INTO + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) " + _ONCE,
    "postgresql": _INTO + "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json) " + _ONCE,
}
_RETURNING = " RETURNING terminal_id, seq"
# PostgreSQL: the whole batch as one array per column, one statement, one round trip
_PG_BATCH_SQL = (
    "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, data) "
    "SELECT t, m, s, ts, %s, k, c, d::json FROM unnest("
    "%s::text[], %s::text[], %s::int8[], %s::timestamptz[], %s::text[], %s::text[], %s::text[]"
    ") AS u(t, m, s, ts, k, c, d) "
    "ON CONFLICT (terminal_id, seq) DO NOTHING RETURNING terminal_id, seq"
)

EventInsert = tuple[str, str, int, datetime, str, str | None, str]
"""One row to insert: terminal_id, merchant_id, seq, ts (aware), kind, code, data as JSON text."""


def _sqlite_time(ts: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC), so reads parse it back."""
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@lru_cache(maxsize=64)
def _sqlite_batch_sql(n: int) -> str:
    return (
        _INTO + "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * n) + " " + _ONCE + _RETURNING
    )


def batch_statement(
    dialect: str, rows: Sequence[EventInsert], received_at: datetime
) -> tuple[str, tuple[Any, ...]]:
    """One ``INSERT .. ON CONFLICT DO NOTHING RETURNING terminal_id, seq`` for all ``rows``
    (at most :data:`CHUNK`) and its parameters: a multi-row ``VALUES`` on SQLite, ``unnest``
    of one array per column on PostgreSQL."""
    if dialect == "sqlite":
        rec = _sqlite_time(received_at)
        flat = tuple(
            x
            for tid, mid, seq, ts, kind, code, data in rows
            for x in (tid, mid, seq, _sqlite_time(ts), rec, kind, code, data)
        )
        return _sqlite_batch_sql(len(rows)), flat
    if dialect == "postgresql":
        tids, mids, seqs, tss, kinds, codes, datas = (list(col) for col in zip(*rows, strict=True))
        return _PG_BATCH_SQL, (received_at, tids, mids, seqs, tss, kinds, codes, datas)
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")


def insert_events(session: Session, *, rows: Sequence[dict[str, Any]]) -> set[tuple[str, int]]:
    """:func:`insert_event_rows` for rows as dicts of the event columns (``data`` as an object);
    all rows of one call must share ``received_at``."""
    if not rows:
        return set()
    tuples = [
        (r["terminal_id"], r["merchant_id"], r["seq"], r["ts"], r["kind"], r["code"],
         json.dumps(r["data"]))
        for r in rows
    ]  # fmt: skip
    return insert_event_rows(session, rows=tuples, received_at=rows[0]["received_at"])


def insert_event_rows(
    session: Session, *, rows: Sequence[EventInsert], received_at: datetime
) -> set[tuple[str, int]]:
    """Insert rows whose (terminal_id, seq) is not stored yet; returns the keys stored now.

    One statement per :data:`CHUNK` rows straight through the driver, ``ON CONFLICT DO
    NOTHING RETURNING``: the database itself says which rows it stored, so a resend (or the
    same key written by another worker at the same moment) is never counted twice. The keys in
    ``rows`` must be distinct.
    """
    if not rows:
        return set()
    conn = session.connection()
    dialect = conn.dialect.name
    stored: set[tuple[str, int]] = set()
    for i in range(0, len(rows), CHUNK):
        sql, params = batch_statement(dialect, rows[i : i + CHUNK], received_at)
        stored.update((tid, seq) for tid, seq in conn.exec_driver_sql(sql, params))
    return stored


def list_events(
    session: Session,
    *,
    merchant_id: str | None = None,
    terminal_id: str | None = None,
    code: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[EventRow]:
    q = select(EventRow).order_by(EventRow.id.desc())
    if merchant_id is not None:
        q = q.where(EventRow.merchant_id == merchant_id)
    if terminal_id is not None:
        q = q.where(EventRow.terminal_id == terminal_id)
    if code is not None:
        q = q.where(EventRow.code == code)
    if since is not None:
        q = q.where(EventRow.ts >= since)
    return session.scalars(q.limit(limit).offset(offset)).all()


def get_event(
    session: Session, *, event_id: int, merchant_id: str | None = None
) -> EventRow | None:
    row = session.get(EventRow, event_id)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        return None
    return row


def events_after(
    session: Session, *, after_id: int, also_ids: Sequence[int] = (), limit: int = 5000
) -> Sequence[EventRow]:
    """Events with id > after_id (and the given ids, re-checked gaps), oldest first."""
    cond = EventRow.id > after_id
    if also_ids:
        cond = cond | EventRow.id.in_(list(also_ids))
    return session.scalars(select(EventRow).where(cond).order_by(EventRow.id).limit(limit)).all()
