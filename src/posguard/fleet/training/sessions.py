"""Training sessions recorded against a merchant (table ``training_sessions``, migration 0008).

A session names the merchant, the operator trained (None: the whole shop), its topics (catalog
``OPS.*`` codes: what was trained), when it was held and by whom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.catalog.model import Category, Entry
from posguard.fleet.db.models import Merchant, TrainingSession


class SessionRefusedError(ValueError):
    """A session that cannot be recorded; the message says which field and why."""


def record_session(
    session: Session,
    *,
    merchant_id: str,
    topics: Sequence[str],
    held_at: datetime,
    trainer: str,
    now: datetime,
    catalog: Mapping[str, Entry],
    operator: str | None = None,
    note: str = "",
) -> TrainingSession:
    """Record one session; :class:`SessionRefusedError` for an unknown merchant or topic, or a
    session in the future."""
    if session.get(Merchant, merchant_id) is None:
        raise SessionRefusedError(f"merchant_id: no merchant {merchant_id!r}")
    if not topics:
        raise SessionRefusedError("topics: name at least one operator-error code (OPS.*)")
    for code in topics:
        entry = catalog.get(code)
        if entry is None or entry.category is not Category.OPERATOR:
            raise SessionRefusedError(
                f"topics: {code!r} is not an operator-error code of the catalog"
            )
    if held_at > now:
        raise SessionRefusedError("held_at: a session cannot be recorded before it is held")
    row = TrainingSession(
        merchant_id=merchant_id,
        operator=operator or None,
        topics=sorted(set(topics)),
        held_at=held_at,
        trainer=trainer,
        note=note,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_sessions(session: Session, *, merchant_id: str | None = None) -> list[TrainingSession]:
    stmt = select(TrainingSession).order_by(TrainingSession.held_at, TrainingSession.id)
    if merchant_id is not None:
        stmt = stmt.where(TrainingSession.merchant_id == merchant_id)
    return list(session.scalars(stmt))
