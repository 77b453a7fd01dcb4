"""Where notifications meet the incident audit log: each message sent is an audit entry of
its incident, and an assign or reopen message names whom its own audit entry says (not the
incident's assignee at send time, which may have changed since)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet import audit
from posguard.fleet.audit import AuditAction
from posguard.fleet.db.models import IncidentAudit
from posguard.fleet.db.models import NotificationOutbox as Row


def said_by(session: Session, rows: Sequence[Row]) -> dict[int, str]:
    """Row id -> whom an ``assign:<entry>`` row names (the assignee) or who a
    ``reopen:<entry>`` row's reopening was by, read from those audit entries."""
    wanted: dict[int, int] = {}
    for r in rows:
        kind, _, ref = r.transition.partition(":")
        if kind in ("assign", "reopen") and ref.isdigit():
            wanted[r.id] = int(ref)
    if not wanted:
        return {}
    entries = {
        e.id: e
        for e in session.scalars(
            select(IncidentAudit).where(IncidentAudit.id.in_(set(wanted.values())))
        )
    }
    out: dict[int, str] = {}
    for row_id, entry_id in wanted.items():
        e = entries.get(entry_id)
        if e is not None:
            who = e.details.get("assignee") if e.action == "assigned" else e.actor
            out[row_id] = str(who).removeprefix("user:") if e.action == "reopened" else str(who)
    return out


def audit_sent(
    session: Session, ids: Sequence[int], *, worker: str, key: str, now: datetime
) -> None:
    """One audit entry per incident row this worker just marked sent (a merchant's own
    notification is merchant-safe)."""
    rows = session.scalars(
        select(Row).where(
            Row.id.in_(list(ids)),
            Row.claimed_by == worker,
            Row.message_key == key,
            Row.incident_id.is_not(None),
        )
    )
    for r in rows:
        assert r.incident_id is not None
        audit.record(
            session,
            incident_id=r.incident_id,
            action=AuditAction.NOTIFICATION_SENT,
            actor=audit.ORIGIN_SYSTEM,
            origin=audit.ORIGIN_SYSTEM,
            at=now,
            details={
                "channel": r.channel,
                "transition": r.transition,
                "recipient": r.recipient,
                "audience": r.audience,
                "route": r.route_id,
            },
            merchant_safe=r.audience == "merchant",
        )
