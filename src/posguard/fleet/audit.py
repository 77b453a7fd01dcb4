"""The incident audit log: every action on an incident, who took it, when, from where and
with what details, in its own append-only table (``incident_audit``; the database refuses
UPDATE and DELETE on it, migration 0007).

Written in the same transaction as the action, so an action and its record commit together.
Who: ``user:<name>``, ``rule:<id>``, ``system``. From where: the client's address, ``cli`` or
``system``. An entry marked ``merchant_safe`` may be shown to the incident's merchant (without
who and where: :func:`public_entry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import IncidentAudit
from posguard.fleet.repo.pg_unnest import UnnestInsert

ORIGIN_CLI = "cli"
ORIGIN_SYSTEM = "system"
MAX_TEXT = 2000  # free text kept in an entry (a note, a reason's text)


class AuditAction(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    NOTE = "note"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    COMMAND_SENT = "command_sent"
    COMMAND_ANSWER = "command_answer"
    NOTIFICATION_SENT = "notification_sent"


def record(
    session: Session,
    *,
    incident_id: int,
    action: AuditAction,
    actor: str,
    origin: str,
    at: datetime,
    details: dict[str, Any] | None = None,
    merchant_safe: bool = False,
) -> IncidentAudit:
    entry = IncidentAudit(
        incident_id=incident_id,
        at=at,
        actor=actor[:80],
        origin=(origin or ORIGIN_SYSTEM)[:64],
        action=action.value,
        merchant_safe=merchant_safe,
        details=dict(details or {}),
    )
    session.add(entry)
    return entry


# PostgreSQL: many entries in one statement over arrays (:mod:`posguard.fleet.repo.pg_unnest`)
_PG_MANY = UnnestInsert(
    IncidentAudit.__table__,
    ("incident_id", "at", "actor", "origin", "action", "merchant_safe", "details"),
)


def record_many(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Several entries at once, each given as :func:`record`'s keyword arguments. On
    PostgreSQL one statement and no ORM objects (nothing in the session sees them: for entries
    no flush hook needs, such as a rule's resolutions); elsewhere :func:`record` each."""
    if not entries:
        return
    if session.get_bind().dialect.name != "postgresql":
        for e in entries:
            record(session, **e)
        return
    _PG_MANY.execute(
        session,
        [
            {
                "incident_id": e["incident_id"],
                "at": e["at"],
                "actor": e["actor"][:80],
                "origin": (e["origin"] or ORIGIN_SYSTEM)[:64],
                "action": AuditAction(e["action"]).value,
                "merchant_safe": bool(e.get("merchant_safe", False)),
                "details": dict(e.get("details") or {}),
            }
            for e in entries
        ],
    )


def entries(
    session: Session, *, incident_id: int, merchant_view: bool = False, limit: int = 500
) -> Sequence[IncidentAudit]:
    """The incident's entries, oldest first (a merchant: the merchant-safe ones only)."""
    q = select(IncidentAudit).where(IncidentAudit.incident_id == incident_id)
    if merchant_view:
        q = q.where(IncidentAudit.merchant_safe.is_(True))
    return session.scalars(q.order_by(IncidentAudit.id).limit(limit)).all()


MERCHANT_DETAILS = frozenset({"reason", "command", "status", "transition"})
"""The detail keys a merchant sees (not notes, not names, not addresses)."""


def public_entry(e: IncidentAudit, *, merchant_view: bool) -> dict[str, Any]:
    """An entry as the API and the dashboard show it; a merchant sees what happened and when,
    not who did it or from where."""
    if merchant_view:
        details = {k: v for k, v in e.details.items() if k in MERCHANT_DETAILS}
        return {"id": e.id, "at": e.at, "action": e.action, "actor": None, "origin": None,
                "details": details}  # fmt: skip
    return {
        "id": e.id,
        "at": e.at,
        "action": e.action,
        "actor": e.actor,
        "origin": e.origin,
        "details": dict(e.details),
    }
