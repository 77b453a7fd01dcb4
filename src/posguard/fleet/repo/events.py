"""Events: batched idempotent inserts (see :mod:`.event_insert`) and reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow
from posguard.fleet.repo.event_insert import insert_event_rows

_INTO = (
    "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, data, "
    "shard_slot) "
)
_ONCE = "ON CONFLICT (terminal_id, seq, ts) DO NOTHING"
# the plain one-row statement (the benchmark's raw ``executemany`` baseline; the last parameter
# is the terminal's slot, posguard.fleet.diagnosis.shard.slot_of)
INSERT_SQL = {
    "sqlite": _INTO + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) " + _ONCE,
    "postgresql": _INTO + "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json, %s) " + _ONCE,
}


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
