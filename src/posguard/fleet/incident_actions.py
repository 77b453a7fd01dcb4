"""What a person does to an incident: acknowledge, assign, note, resolve (with a reason),
reopen. One service for the API and the dashboard, owning who may do it, the state check, the
metric, the audit record and the recorded actor.

The diagnosis engine opens and closes incidents by rule (``fleet/incidents.py``); this module
is the human side. An action that does not apply (acknowledging a resolved incident, an
unknown assignee, a resolve without a reason) raises :class:`TransitionRefusedError` and
changes nothing; each caller turns it into its own answer (403 / 409 / 422 in the API, the
same in the dashboard). A manual resolve while the cause still shows
(:mod:`posguard.fleet.incident_cause`) raises :class:`CauseStillActiveError` unless ``force``
is given; a forced resolve records the cause it overrode.

Notifications follow from the change itself: the notification hook (``fleet/notify/hook.py``)
sees the incident's new state and the audit entry in the same flush.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.common.errors import PosguardError
from posguard.fleet import audit
from posguard.fleet.audit import AuditAction
from posguard.fleet.db.models import Incident, User
from posguard.fleet.incident_cause import ActiveCause, still_active
from posguard.fleet.incident_policy import RESOLUTION_REASONS, IncidentPolicy
from posguard.fleet.metrics import INCIDENTS
from posguard.fleet.repo import incidents as repo
from posguard.fleet.repo.incidents import IncidentStatus
from posguard.fleet.repo.users import Role

STAFF = frozenset({Role.ADMIN, Role.OPS})
"""Who may act on an incident: operations and administrators, never a merchant user."""

ACTIVE = (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value)
MAX_TEXT = audit.MAX_TEXT


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledged"
    ASSIGN = "assigned"
    NOTE = "note"
    RESOLVE = "resolved"
    REOPEN = "reopened"


class TransitionRefusedError(PosguardError):
    """The action does not apply. ``context["forbidden"]``: the user may not act on incidents
    at all; ``context["invalid"]``: the request itself is wrong (an unknown reason or
    assignee, a missing text); otherwise the incident's state refuses it."""

    @property
    def forbidden(self) -> bool:
        return bool(self.context.get("forbidden"))

    @property
    def invalid(self) -> bool:
        return bool(self.context.get("invalid"))


class CauseStillActiveError(TransitionRefusedError):
    """A manual resolve while the cause still shows; repeat with ``force`` to resolve anyway."""

    def __init__(self, cause: ActiveCause) -> None:
        super().__init__(
            f"the cause still shows ({cause.reason}{': ' + cause.detail if cause.detail else ''})"
            "; confirm to resolve anyway",
            cause=cause.reason,
            cause_detail=cause.detail or None,
        )
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and from where (the client's address, ``cli`` or ``system``)."""

    username: str
    role: Role
    origin: str

    @property
    def name(self) -> str:
        return f"user:{self.username}"


def _staff(actor: Actor) -> None:
    if actor.role not in STAFF:
        raise TransitionRefusedError(
            f"a {actor.role.value} user may not act on incidents", forbidden=True
        )


def _text(value: str | None, what: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise TransitionRefusedError(f"{what} is required", invalid=True)
    if len(text) > MAX_TEXT:
        raise TransitionRefusedError(f"{what} is longer than {MAX_TEXT} characters", invalid=True)
    return text


def _done(
    session: Session,
    incident: Incident,
    actor: Actor,
    action: AuditAction,
    now: datetime,
    details: dict[str, object],
    *,
    merchant_safe: bool,
) -> Incident:
    audit.record(
        session,
        incident_id=incident.id,
        action=action,
        actor=actor.name,
        origin=actor.origin,
        at=now,
        details=details,
        merchant_safe=merchant_safe,
    )
    session.flush()
    INCIDENTS.labels(action.value).inc()
    return incident


def acknowledge(session: Session, *, incident: Incident, actor: Actor, now: datetime) -> Incident:
    _staff(actor)
    status = incident.status
    if not repo.acknowledge(session, incident=incident, by=actor.username, now=now):
        raise TransitionRefusedError(f"incident is {status}, not open")
    return _done(session, incident, actor, AuditAction.ACKNOWLEDGED, now, {}, merchant_safe=True)


def parse_assignee(value: str) -> tuple[str, str]:
    """``user:alice`` / ``team:network`` -> (kind, id); refused otherwise.

    >>> parse_assignee("team:network")
    ('team', 'network')
    """
    kind, sep, ident = value.strip().partition(":")
    if not sep or kind not in ("user", "team") or not ident or len(value) > 80:
        raise TransitionRefusedError(
            f"assignee {value!r}: give user:<name> or team:<id>", invalid=True
        )
    return kind, ident


def assign(
    session: Session,
    *,
    incident: Incident,
    actor: Actor,
    now: datetime,
    assignee: str,
    policy: IncidentPolicy,
) -> Incident:
    """Assign to a staff user (enabled, ops or admin) or a configured team."""
    _staff(actor)
    kind, ident = parse_assignee(assignee)
    if kind == "user":
        user = session.scalar(select(User).where(User.username == ident))
        if user is None or user.disabled or Role(user.role) not in STAFF:
            raise TransitionRefusedError(
                f"assignee {assignee!r}: no enabled ops or admin user of that name", invalid=True
            )
    elif policy.team(ident) is None:
        known = ", ".join(t.id for t in policy.teams) or "none configured"
        raise TransitionRefusedError(
            f"assignee {assignee!r}: unknown team (teams: {known})", invalid=True
        )
    if incident.status not in ACTIVE:
        raise TransitionRefusedError(f"incident is {incident.status}: assign an open one")
    value = f"{kind}:{ident}"
    if incident.assignee == value:
        raise TransitionRefusedError(f"incident is already assigned to {value}")
    previous = incident.assignee
    incident.assignee = value
    return _done(
        session,
        incident,
        actor,
        AuditAction.ASSIGNED,
        now,
        {"assignee": value, "previous": previous},
        merchant_safe=False,
    )


def add_note(
    session: Session, *, incident: Incident, actor: Actor, now: datetime, text: str
) -> Incident:
    """A note, on an incident in any state (a closed one too: what was found afterwards)."""
    _staff(actor)
    body = _text(text, "the note's text", required=True)
    return _done(session, incident, actor, AuditAction.NOTE, now, {"text": body},
                 merchant_safe=False)  # fmt: skip


def resolve(
    session: Session,
    *,
    incident: Incident,
    actor: Actor,
    now: datetime,
    reason: str,
    text: str = "",
    force: bool = False,
    catalog: Mapping[str, Entry],
) -> Incident:
    """Resolve with a reason from :data:`RESOLUTION_REASONS` (``other`` needs ``text``).
    Refused with :class:`CauseStillActiveError` while the cause still shows, unless ``force``."""
    _staff(actor)
    if reason not in RESOLUTION_REASONS:
        raise TransitionRefusedError(
            f"resolution reason {reason!r}: one of {', '.join(RESOLUTION_REASONS)}", invalid=True
        )
    note = _text(text, "the resolution's text", required=reason == "other")
    if incident.status not in ACTIVE:
        raise TransitionRefusedError(f"incident is already {incident.status}")
    cause = still_active(session, incident=incident, catalog=catalog, now=now)
    if cause is not None and not force:
        raise CauseStillActiveError(cause)
    repo.resolve(session, incident=incident, by=actor.name, now=now)
    incident.resolution_reason = reason
    incident.resolution_note = note or None
    details: dict[str, object] = {"reason": reason, "text": note}
    if cause is not None:
        details["forced"] = True
        details["active_cause"] = {"reason": cause.reason, "detail": cause.detail}
    return _done(session, incident, actor, AuditAction.RESOLVED, now, details, merchant_safe=True)


def reopen(
    session: Session, *, incident: Incident, actor: Actor, now: datetime, reason: str
) -> Incident:
    """Resolved -> open again, with the reason. The incident needs acknowledging again; its
    earlier resolution stays in the audit log. Refused while another incident is open for the
    same rule and scope (the diagnosis opened a new one since: work on that one)."""
    _staff(actor)
    why = _text(reason, "the reason to reopen", required=True)
    if incident.status != IncidentStatus.RESOLVED.value:
        raise TransitionRefusedError(f"incident is {incident.status}: only a resolved one reopens")
    key = repo.open_key(incident.rule_id, incident.scope)
    other = repo.find_open(session, rule_id=incident.rule_id, scope=incident.scope)
    if other is not None:
        raise TransitionRefusedError(
            f"incident #{other.id} is open for the same rule and scope", open_incident=other.id
        )
    previous = {
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "resolved_by": incident.resolved_by,
        "resolution_reason": incident.resolution_reason,
    }
    incident.status = IncidentStatus.OPEN.value
    incident.open_key = key
    incident.resolved_at = incident.resolved_by = None
    incident.time_to_resolve_s = None
    incident.acknowledged_at = incident.acknowledged_by = None
    incident.time_to_ack_s = None
    incident.resolution_reason = incident.resolution_note = None
    incident.reopen_count = (incident.reopen_count or 0) + 1
    if "cleared" in incident.explanation:  # its rule's clear is history now (in the audit log)
        incident.explanation = {k: v for k, v in incident.explanation.items() if k != "cleared"}
    return _done(session, incident, actor, AuditAction.REOPENED, now,
                 {"text": why, "previous": previous}, merchant_safe=True)  # fmt: skip
