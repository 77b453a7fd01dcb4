"""The notification outbox: enqueue once per idempotency key, claim due rows so that no two
workers take the same one, and record the outcome.

Claiming is one conditional UPDATE over a selection of due rows: on PostgreSQL a CTE that
takes ``FOR UPDATE SKIP LOCKED`` (two workers take disjoint rows without waiting); on SQLite the
database has one writer at a time and the UPDATE re-checks the row's state. A claimed row
carries a lease; a worker that dies leaves it to be taken again when the lease ends. Every
outcome is written only ``WHERE claimed_by = me AND status = 'sending'``, so a worker whose
lease was taken over cannot overwrite the new owner's result.

>>> k = idem_key(7, "open", "ops-mail", "ops@example.com")
>>> len(k), k == idem_key(7, "open", "ops-mail", "ops@example.com"), k == idem_key(
...     7, "resolve", "ops-mail", "ops@example.com")
(64, True, False)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from posguard.fleet.db.models import NotificationOutbox as Row


class RowStatus(StrEnum):
    PENDING = "pending"  # waiting for its time (hold, backoff); attempts > 0: retrying
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanent error or attempts used up
    SUPPRESSED = "suppressed"  # merged into a group incident, acknowledged or cleared first


def idem_key(incident_id: int | None, transition: str, channel: str, recipient: str) -> str:
    raw = f"{incident_id}\x1f{transition}\x1f{channel}\x1f{recipient}"
    return hashlib.sha256(raw.encode()).hexdigest()


def enqueue(conn: Connection | Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose idempotency key is new; returns how many were new."""
    if not rows:
        return 0
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    ins = postgresql.insert(Row) if dialect == "postgresql" else sqlite.insert(Row)
    stmt = ins.values(list(rows)).on_conflict_do_nothing(index_elements=["idem_key"])
    result = conn.execute(stmt.returning(Row.id))
    return len(result.all())


def new_row(
    *,
    incident_id: int | None,
    transition: str,
    route_id: str,
    channel: str,
    recipient: str,
    lang: str,
    audience: str,
    now: datetime,
    not_before: datetime,
) -> dict[str, Any]:
    return {
        "idem_key": idem_key(incident_id, transition, channel, recipient),
        "incident_id": incident_id,
        "transition": transition,
        "route_id": route_id,
        "channel": channel,
        "recipient": recipient,
        "lang": lang,
        "audience": audience,
        "status": RowStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": not_before,
    }


def _due(now: datetime) -> Any:
    return or_(
        and_(Row.status == RowStatus.PENDING.value, Row.next_attempt_at <= now),
        and_(Row.status == RowStatus.SENDING.value, Row.lease_until < now),
    )


def claim(
    session: Session, *, channel: str, worker: str, now: datetime, lease_s: float, limit: int
) -> list[Row]:
    """Take up to ``limit`` due rows of ``channel`` for ``worker`` (oldest first)."""
    pick = select(Row.id).where(Row.channel == channel, _due(now)).order_by(Row.id).limit(limit)
    values = {
        "status": RowStatus.SENDING.value,
        "claimed_by": worker,
        "lease_until": now + timedelta(seconds=lease_s),
        "attempts": Row.attempts + 1,
    }
    if session.get_bind().dialect.name == "postgresql":
        # a CTE runs once; "id IN (sub-select)" may be re-run per row as a SubPlan, and each
        # run with SKIP LOCKED and LIMIT can pick another row
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        stmt = update(Row).where(Row.id == picked.c.id, _due(now))
    else:
        stmt = update(Row).where(Row.id.in_(pick.scalar_subquery()), _due(now))
    stmt = stmt.values(**values).returning(Row.id)
    ids = [i for (i,) in session.execute(stmt)]
    if not ids:
        return []
    return list(
        session.scalars(
            select(Row)
            .where(Row.id.in_(ids))
            .order_by(Row.id)
            .execution_options(populate_existing=True)
        )
    )


def _mine(ids: Iterable[int], worker: str) -> Any:
    return and_(
        Row.id.in_(list(ids)), Row.claimed_by == worker, Row.status == RowStatus.SENDING.value
    )


def mark_sent(
    session: Session, ids: Sequence[int], *, worker: str, now: datetime, message_key: str
) -> int:
    stmt = (
        update(Row)
        .where(_mine(ids, worker))
        .values(
            status=RowStatus.SENT.value,
            sent_at=now,
            message_key=message_key,
            lease_until=None,
            last_error=None,
        )
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def mark_unsent(
    session: Session,
    ids: Sequence[int],
    *,
    worker: str,
    status: RowStatus,
    error: str,
    next_attempt_at: datetime | None = None,
) -> int:
    """Back to pending (retry at ``next_attempt_at``), or failed / suppressed for good."""
    values: dict[str, Any] = {
        "status": status.value,
        "lease_until": None,
        "last_error": error[:300],
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    stmt = update(Row).where(_mine(ids, worker)).values(**values)
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def release(session: Session, ids: Sequence[int], *, worker: str) -> None:
    """Give rows back untried (the channel's rate is used up): the attempt does not count."""
    stmt = (
        update(Row)
        .where(_mine(ids, worker))
        .values(status=RowStatus.PENDING.value, lease_until=None, attempts=Row.attempts - 1)
    )
    session.execute(stmt)


def messages_sent_since(session: Session, *, channel: str, since: datetime) -> int:
    """Messages (a digest counts once) sent on ``channel`` since ``since``."""
    q = select(func.count(func.distinct(Row.message_key))).where(
        Row.channel == channel, Row.status == RowStatus.SENT.value, Row.sent_at >= since
    )
    return int(session.scalar(q) or 0)


def delivery_log(
    session: Session,
    *,
    limit: int = 50,
    status: str | None = None,
    incident_id: int | None = None,
    before_id: int | None = None,
) -> Sequence[Row]:
    """Newest first; ``status`` is a row status or ``retrying`` (pending after a failed
    attempt); ``before_id`` pages on (rows older than that one)."""
    q = select(Row).order_by(Row.id.desc()).limit(limit)
    if status == "retrying":
        q = q.where(Row.status == RowStatus.PENDING.value, Row.attempts > 0)
    elif status is not None:
        q = q.where(Row.status == status)
    if before_id is not None:
        q = q.where(Row.id < before_id)
    if incident_id is not None:
        q = q.where(Row.incident_id == incident_id)
    return session.scalars(q).all()


def shown_state(row: Row) -> str:
    """The state people read: ``retrying`` for a pending row that has failed before."""
    return "retrying" if row.status == RowStatus.PENDING.value and row.attempts > 0 else row.status


def latest_test(session: Session, *, channel: str) -> Row | None:
    """The newest test message's row of ``channel`` (``testsend``), or None."""
    q = (
        select(Row)
        .where(Row.channel == channel, Row.incident_id.is_(None), Row.transition.like("test:%"))
        .order_by(Row.id.desc())
        .limit(1)
    )
    return session.scalars(q).first()
