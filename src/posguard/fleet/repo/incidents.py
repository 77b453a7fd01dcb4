"""Incidents: look up, list, acknowledge and resolve by hand (rules resolve via fleet.incidents)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow, Incident, IncidentEvent


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    MERGED = "merged"  # swallowed by a host- or area-level incident (parent_id)


def open_key(rule_id: str, scope: str) -> str:
    return f"{rule_id}|{scope}"


def find_open(session: Session, *, rule_id: str, scope: str) -> Incident | None:
    return session.scalars(
        select(Incident).where(Incident.open_key == open_key(rule_id, scope))
    ).first()


def get_incident(
    session: Session, *, incident_id: int, merchant_id: str | None = None
) -> Incident | None:
    inc = session.get(Incident, incident_id)
    if inc is None or (merchant_id is not None and inc.merchant_id != merchant_id):
        return None
    return inc


def list_incidents(
    session: Session,
    *,
    merchant_id: str | None = None,
    status: str | None = None,
    terminal_id: str | None = None,
    parent_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Incident]:
    q = select(Incident).order_by(Incident.id.desc())
    if merchant_id is not None:
        q = q.where(Incident.merchant_id == merchant_id)
    if status is not None:
        q = q.where(Incident.status == status)
    if terminal_id is not None:
        q = q.where(Incident.terminal_id == terminal_id)
    if parent_id is not None:
        q = q.where(Incident.parent_id == parent_id)
    return session.scalars(q.limit(limit).offset(offset)).all()


def incident_events(session: Session, *, incident_id: int, limit: int = 100) -> Sequence[EventRow]:
    q = (
        select(EventRow)
        .join(IncidentEvent, IncidentEvent.event_id == EventRow.id)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(EventRow.ts)
        .limit(limit)
    )
    return session.scalars(q).all()


def acknowledge(session: Session, *, incident: Incident, by: str, now: datetime) -> bool:
    """Acknowledge an open incident; False when it is not open."""
    if incident.status != IncidentStatus.OPEN.value:
        return False
    incident.status = IncidentStatus.ACKNOWLEDGED.value
    incident.acknowledged_at = now
    incident.acknowledged_by = by
    incident.time_to_ack_s = max(0.0, (now - incident.opened_at).total_seconds())
    session.flush()
    return True


def resolve(session: Session, *, incident: Incident, by: str, now: datetime) -> bool:
    """Resolve an open or acknowledged incident. An incident never closes before it opened: a
    clear event stamped earlier (a terminal's clock, a late delivery) closes it at its opening."""
    if incident.status not in (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value):
        return False
    now = max(now, incident.opened_at)
    incident.status = IncidentStatus.RESOLVED.value
    incident.open_key = None
    incident.resolved_at = now
    incident.resolved_by = by
    incident.time_to_resolve_s = (now - incident.opened_at).total_seconds()
    session.flush()
    return True
