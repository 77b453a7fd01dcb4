"""Events: batched idempotent inserts (``ON CONFLICT DO NOTHING`` on both dialects) and reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow

CHUNK = 1000  # rows per executemany
INSERT_SQL = {
    "sqlite": "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, "
    "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal_id, seq) DO NOTHING",
    "postgresql": "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, "
    "data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json) ON CONFLICT (terminal_id, seq) DO NOTHING",
}


def _sqlite_time(ts: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC), so reads parse it back."""
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _params(dialect: str, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    if dialect == "sqlite":
        received = {id(r["received_at"]): _sqlite_time(r["received_at"]) for r in rows}
        return [
            (
                r["terminal_id"], r["merchant_id"], r["seq"], _sqlite_time(r["ts"]),
                received[id(r["received_at"])], r["kind"], r["code"], json.dumps(r["data"]),
            )
            for r in rows
        ]  # fmt: skip
    if dialect == "postgresql":
        return [
            (
                r["terminal_id"], r["merchant_id"], r["seq"], r["ts"], r["received_at"],
                r["kind"], r["code"], json.dumps(r["data"]),
            )
            for r in rows
        ]  # fmt: skip
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")


def _existing(
    session: Session, keys: Sequence[tuple[str, int]], **extra: Any
) -> set[tuple[str, int]]:
    """Which keys are stored: one query per chunk, one index range per terminal in it."""
    found: set[tuple[str, int]] = set()
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        ranges: dict[str, list[int]] = {}
        for tid, seq in chunk:
            lo_hi = ranges.setdefault(tid, [seq, seq])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], seq), max(lo_hi[1], seq)
        cond = or_(
            *(
                and_(EventRow.terminal_id == tid, EventRow.seq.between(lo, hi))
                for tid, (lo, hi) in ranges.items()
            )
        )
        q = select(EventRow.terminal_id, EventRow.seq).where(cond)
        if "received_at" in extra:
            q = q.where(EventRow.received_at == extra["received_at"])
        wanted = set(chunk)
        found.update(k for k in ((tid, seq) for tid, seq in session.execute(q)) if k in wanted)
    return found


def insert_events(session: Session, *, rows: Sequence[dict[str, Any]]) -> set[tuple[str, int]]:
    """Insert rows whose (terminal_id, seq) is not stored yet; returns the keys stored now.

    One lookup of the batch's keys (row-value ``IN`` on the unique index), then one
    ``executemany`` of ``INSERT .. ON CONFLICT DO NOTHING`` straight through the driver (the
    same statement on SQLite and PostgreSQL). If a concurrent writer stored some of the same
    keys in between (the affected-row count falls short), the keys this call stored are
    re-read by their ``received_at``. All rows of one call must share ``received_at``.
    """
    if not rows:
        return set()
    keys = [(r["terminal_id"], r["seq"]) for r in rows]
    known = _existing(session, keys)
    new = [r for r, k in zip(rows, keys, strict=True) if k not in known]
    if not new:
        return set()
    conn = session.connection()
    dialect = conn.dialect.name
    params = _params(dialect, new)
    inserted = 0
    for i in range(0, len(params), CHUNK):
        result = conn.exec_driver_sql(INSERT_SQL[dialect], params[i : i + CHUNK])
        inserted += max(result.rowcount, 0)
    new_keys = [(r["terminal_id"], r["seq"]) for r in new]
    if inserted == len(new):
        return set(new_keys)
    return _existing(session, new_keys, received_at=new[0]["received_at"])


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
