"""Incidents: list, show (with the catalog steps for the caller's audience and the SLA). What
people do to an incident is in ``incident_workflow.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from posguard.catalog.model import Audience, Entry
from posguard.fleet.api.deps import Ctx, CurrentUser, Principal, SessionDep, not_found
from posguard.fleet.api.schemas.events import EventPublic
from posguard.fleet.api.schemas.incidents import (
    IncidentDetailPublic,
    IncidentPublic,
    SlaClockPublic,
    SlaPublic,
    StepPublic,
)
from posguard.fleet.db.models import Incident
from posguard.fleet.incident_policy import IncidentPolicy, get_policy
from posguard.fleet.merchant_view import merchant_safe_explanation
from posguard.fleet.repo import incidents as repo
from posguard.fleet.repo.users import Role
from posguard.fleet.sla import Clock, evaluate

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

IncidentId = Annotated[int, Path(ge=1, le=2**53)]
Status = Literal["open", "acknowledged", "resolved", "merged"]


def _audiences(user: Principal) -> set[Audience]:
    if user.role is Role.MERCHANT:
        return {Audience.MERCHANT, Audience.CARDHOLDER}
    return set(Audience)


def _clock(c: Clock) -> SlaClockPublic:
    return SlaClockPublic(
        target_s=c.target_s, elapsed_s=c.elapsed_s, remaining_s=c.remaining_s, state=c.state.value
    )


def sla_of(inc: Incident, now: datetime, policy: IncidentPolicy | None = None) -> SlaPublic | None:
    target = (policy or get_policy()).sla.get(inc.severity)
    if target is None or inc.status == "merged":
        return None
    s = evaluate(
        target,
        opened_at=inc.opened_at,
        acknowledged_at=inc.acknowledged_at,
        resolved_at=inc.resolved_at,
        now=now,
    )
    return SlaPublic(ack=_clock(s.ack), resolve=_clock(s.resolve), breached=s.breached)


def to_public(
    inc: Incident,
    catalog: Mapping[str, Entry],
    user: Principal,
    cls: type[IncidentPublic] = IncidentPublic,
    own_terminals: Sequence[str] = (),
    now: datetime | None = None,
    policy: IncidentPolicy | None = None,
) -> IncidentPublic:
    """An incident as the caller sees it: steps only if the catalog names the caller's audience;
    a fleet-wide incident seen by a merchant names only ``own_terminals`` (its own); who works
    on it and the resolution's note only for staff; the SLA when ``now`` is given."""
    entry = catalog.get(inc.code)
    steps: list[StepPublic] = []
    audience: list[str] = []
    title = None
    if entry is not None:
        audience = [a.value for a in entry.audience]
        title = {"zh": entry.title.zh, "en": entry.title.en}
        if _audiences(user) & set(entry.audience):
            steps = [StepPublic(zh=s.zh, en=s.en, check=s.check) for s in entry.steps]
    explanation = dict(inc.explanation)
    merchant = user.role is Role.MERCHANT
    if merchant and inc.terminal_id is None:
        explanation = merchant_safe_explanation(explanation, own_terminals)
    return cls(
        id=inc.id,
        rule_id=inc.rule_id,
        scope=inc.scope,
        code=inc.code,
        severity=inc.severity,
        status=inc.status,
        terminal_id=inc.terminal_id,
        merchant_id=inc.merchant_id,
        parent_id=inc.parent_id,
        opened_at=inc.opened_at,
        detected_at=inc.detected_at,
        acknowledged_at=inc.acknowledged_at,
        acknowledged_by=inc.acknowledged_by,
        resolved_at=inc.resolved_at,
        resolved_by=inc.resolved_by,
        time_to_ack_s=inc.time_to_ack_s,
        time_to_resolve_s=inc.time_to_resolve_s,
        assignee=None if merchant else inc.assignee,
        resolution_reason=inc.resolution_reason,
        resolution_note=None if merchant else inc.resolution_note,
        reopen_count=inc.reopen_count or 0,
        sla=None if now is None else sla_of(inc, now, policy),
        title=title,
        audience=audience,
        steps=steps,
        explanation=explanation,
    )


@router.get("")
def list_incidents(
    user: CurrentUser,
    ctx: Ctx,
    session: SessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    terminal_id: Annotated[str | None, Query(max_length=64)] = None,
    assignee: Annotated[
        str | None, Query(max_length=80, description="user:<name> or team:<id> (staff only)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[IncidentPublic]:
    """Incidents, newest first. A merchant sees its terminals' ones and, in a merchant-safe
    form, the fleet-wide ones its terminals are in."""
    rows = repo.list_incidents(
        session,
        merchant_id=user.merchant_scope,
        status=status_,
        terminal_id=terminal_id,
        assignee=assignee if user.merchant_scope is None else None,
        limit=limit,
        offset=offset,
    )
    fleet: dict[int, list[str]] = {}
    if user.merchant_scope is not None and any(r.terminal_id is None for r in rows):
        fleet = repo.fleet_incidents_of_merchant(session, merchant_id=user.merchant_scope)
    now, policy = ctx.clock.now(), get_policy()
    return [
        to_public(r, ctx.catalog, user, own_terminals=fleet.get(r.id, ()), now=now, policy=policy)
        for r in rows
    ]


def get_visible(session: SessionDep, incident_id: int, user: Principal) -> Incident:
    inc = repo.get_incident(session, incident_id=incident_id, merchant_id=user.merchant_scope)
    if inc is None:
        raise not_found("incident")
    return inc


@router.get("/{incident_id}", responses={404: {"description": "no such incident (or not yours)"}})
def get_incident(
    incident_id: IncidentId, user: CurrentUser, ctx: Ctx, session: SessionDep
) -> IncidentDetailPublic:
    """One incident with its explanation, the events that matched and the incidents it swallowed."""
    inc = get_visible(session, incident_id, user)
    own: list[str] | None = None
    if user.merchant_scope is not None and inc.terminal_id is None:
        own = repo.merchant_terminals_in(session, incident=inc, merchant_id=user.merchant_scope)
    out = to_public(
        inc, ctx.catalog, user, IncidentDetailPublic, own_terminals=own or (), now=ctx.clock.now()
    )
    assert isinstance(out, IncidentDetailPublic)
    out.events = [
        EventPublic.model_validate(e)
        for e in repo.incident_events(session, incident_id=inc.id, terminal_ids=own)
    ]
    children = repo.list_incidents(
        session, parent_id=inc.id, merchant_id=user.merchant_scope, limit=1000
    )
    out.children = [c.id for c in children if c.parent_id == inc.id]
    return out
