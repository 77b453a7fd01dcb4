"""Incidents: look up, list, acknowledge and resolve by hand (rules resolve via fleet.incidents)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow, Incident, IncidentEvent, Terminal

FLEET_WIDE_LOOKBACK = 1000  # newest fleet-wide incidents searched for a merchant's terminals


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
    """An incident, if the caller may see it: a merchant sees its own terminals' incidents and
    the fleet-wide ones that contain any of its terminals (merchant_terminals_in)."""
    inc = session.get(Incident, incident_id)
    if inc is None or merchant_id is None or inc.merchant_id == merchant_id:
        return inc
    if inc.terminal_id is None and merchant_terminals_in(
        session, incident=inc, merchant_id=merchant_id
    ):
        return inc
    return None


def merchant_terminals_in(session: Session, *, incident: Incident, merchant_id: str) -> list[str]:
    """The merchant's terminals affected by a fleet-wide incident: named in its member list or
    owning an incident it swallowed. Nothing about other merchants' terminals."""
    members = [str(m) for m in incident.explanation.get("members", [])]
    mine: set[str] = set()
    for chunk in range(0, len(members), 1000):
        part = members[chunk : chunk + 1000]
        mine.update(
            session.scalars(
                select(Terminal.id).where(
                    Terminal.id.in_(part), Terminal.merchant_id == merchant_id
                )
            )
        )
    mine.update(
        t
        for t in session.scalars(
            select(Incident.terminal_id).where(
                Incident.parent_id == incident.id, Incident.merchant_id == merchant_id
            )
        )
        if t is not None
    )
    return sorted(mine)


def fleet_incidents_of_merchant(session: Session, *, merchant_id: str) -> dict[int, list[str]]:
    """Fleet-wide incidents (no terminal of their own) that contain any of the merchant's
    terminals, among the newest ``FLEET_WIDE_LOOKBACK``: incident id -> those terminals."""
    mine = set(session.scalars(select(Terminal.id).where(Terminal.merchant_id == merchant_id)))
    if not mine:
        return {}
    out: dict[int, set[str]] = {}
    rows = session.execute(
        select(Incident.id, Incident.explanation)
        .where(Incident.terminal_id.is_(None))
        .order_by(Incident.id.desc())
        .limit(FLEET_WIDE_LOOKBACK)
    )
    for iid, explanation in rows:
        hit = mine.intersection(str(m) for m in (explanation or {}).get("members", []))
        if hit:
            out[iid] = hit
    for parent, tid in session.execute(
        select(Incident.parent_id, Incident.terminal_id).where(
            Incident.merchant_id == merchant_id, Incident.parent_id.is_not(None)
        )
    ):
        if parent is not None and tid is not None:
            out.setdefault(parent, set()).add(tid)
    return {i: sorted(t) for i, t in out.items()}


def list_incidents(
    session: Session,
    *,
    merchant_id: str | None = None,
    status: str | None = None,
    terminal_id: str | None = None,
    parent_id: int | None = None,
    assignee: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Incident]:
    q = select(Incident).order_by(Incident.id.desc())
    if merchant_id is not None:  # its own, and the fleet-wide ones its terminals are in
        fleet = list(fleet_incidents_of_merchant(session, merchant_id=merchant_id))
        q = q.where((Incident.merchant_id == merchant_id) | Incident.id.in_(fleet))
    if status is not None:
        q = q.where(Incident.status == status)
    if terminal_id is not None:
        q = q.where(Incident.terminal_id == terminal_id)
    if parent_id is not None:
        q = q.where(Incident.parent_id == parent_id)
    if assignee is not None:
        q = q.where(Incident.assignee == assignee)
    return session.scalars(q.limit(limit).offset(offset)).all()


def incident_events(
    session: Session,
    *,
    incident_id: int,
    limit: int = 100,
    terminal_ids: Sequence[str] | None = None,
) -> Sequence[EventRow]:
    """The events linked to an incident (only those of ``terminal_ids`` when given)."""
    q = (
        select(EventRow)
        .join(IncidentEvent, IncidentEvent.event_id == EventRow.id)
        .where(IncidentEvent.incident_id == incident_id)
    )
    if terminal_ids is not None:
        q = q.where(EventRow.terminal_id.in_(list(terminal_ids)))
    return session.scalars(q.order_by(EventRow.ts).limit(limit)).all()


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
    if not close(incident, by=by, now=now):
        return False
    session.flush()
    return True


def close(incident: Incident, *, by: str, now: datetime) -> bool:
    """:func:`resolve` without the flush (many incidents resolved in one flush)."""
    if incident.status not in (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value):
        return False
    now = max(now, incident.opened_at)
    incident.status = IncidentStatus.RESOLVED.value
    incident.open_key = None
    incident.resolved_at = now
    incident.resolved_by = by
    incident.time_to_resolve_s = (now - incident.opened_at).total_seconds()
    return True


def merge(child: Incident, parent: Incident, at: datetime) -> None:
    """``child`` is merged into ``parent`` at ``at``: it closes then, never before it opened."""
    child.status = IncidentStatus.MERGED.value
    child.open_key = None
    child.parent_id = parent.id
    closed = max(at, parent.opened_at, child.opened_at)
    child.resolved_at = closed
    child.resolved_by = f"merged:{parent.id}"
    child.time_to_resolve_s = (closed - child.opened_at).total_seconds()
