"""Events: batched idempotent inserts (``ON CONFLICT DO NOTHING`` on both dialects) and reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow

CHUNK = 500  # rows per INSERT statement (9 columns: well under SQLite's variable limit)


def _insert(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(EventRow).on_conflict_do_nothing(
            index_elements=["terminal_id", "seq"]
        )
    if dialect == "sqlite":
        return sqlite.insert(EventRow).on_conflict_do_nothing(index_elements=["terminal_id", "seq"])
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")


def insert_events(
    session: Session, *, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, int], int]:
    """Insert rows, skipping (terminal_id, seq) already stored; returns the new rows' ids by key."""
    stored: dict[tuple[str, int], int] = {}
    if not rows:
        return stored
    dialect = session.get_bind().dialect.name
    for i in range(0, len(rows), CHUNK):
        stmt = _insert(dialect).values(list(rows[i : i + CHUNK]))
        stmt = stmt.returning(EventRow.id, EventRow.terminal_id, EventRow.seq)
        for row_id, tid, seq in session.execute(stmt):
            stored[(tid, seq)] = row_id
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
