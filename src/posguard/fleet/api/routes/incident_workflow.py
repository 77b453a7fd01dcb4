"""What people do to an incident, over the API: acknowledge, assign, note, resolve (with a
reason), reopen, and its audit log. Every action goes through ``fleet.incident_actions``, the
same service the dashboard uses.

Answers: 403 for a merchant user, 404 for an incident the caller may not see, 409 when the
incident's state refuses the action (a resolve while the cause still shows answers 409 with
``{"detail": {"message", "cause", "needs": "force"}}``: repeat with ``"force": true``), 422 for
a wrong request (an unknown reason or assignee, a missing text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from posguard.fleet import audit
from posguard.fleet import incident_actions as actions
from posguard.fleet.api.deps import Ctx, CurrentUser, Principal, SessionDep, StaffUser
from posguard.fleet.api.routes.incidents import get_visible, to_public
from posguard.fleet.api.schemas.incidents import (
    AssignRequest,
    AuditEntryPublic,
    IncidentPublic,
    NoteRequest,
    ReopenRequest,
    ResolveRequest,
)
from posguard.fleet.db.models import Incident
from posguard.fleet.incident_actions import Actor, CauseStillActiveError, TransitionRefusedError
from posguard.fleet.incident_policy import get_policy

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

IncidentId = Annotated[int, Path(ge=1, le=2**53)]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such incident (or not yours)"},
    409: {"description": "the incident's state refuses it"},
}


def actor_of(request: Request, user: Principal) -> Actor:
    return Actor(user.username, user.role, request.client.host if request.client else "unknown")


@contextmanager
def refusals_as_http() -> Iterator[None]:
    """The service's refusals as HTTP answers (see the module docstring)."""
    try:
        yield
    except CauseStillActiveError as exc:
        detail = {"message": exc.message, "cause": exc.cause.reason, "needs": "force"}
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from None
    except TransitionRefusedError as exc:
        if exc.forbidden:
            code = status.HTTP_403_FORBIDDEN
        elif exc.invalid:
            code = status.HTTP_422_UNPROCESSABLE_CONTENT
        else:
            code = status.HTTP_409_CONFLICT
        raise HTTPException(code, exc.message) from None


def _answer(ctx: Ctx, user: Principal, inc: Incident) -> IncidentPublic:
    return to_public(inc, ctx.catalog, user, now=ctx.clock.now())


def _act(
    request: Request,
    incident_id: int,
    user: Principal,
    ctx: Ctx,
    session: SessionDep,
    action: Callable[..., object],
    **args: object,
) -> IncidentPublic:
    """One step of the workflow (a function of ``fleet.incident_actions``) on an incident the
    caller may see, as the caller, now: ``action(session, incident=, actor=, now=, **args)``;
    its refusals as HTTP answers; the incident as it is then."""
    inc = get_visible(session, incident_id, user)
    with refusals_as_http():
        action(session, incident=inc, actor=actor_of(request, user), now=ctx.clock.now(), **args)
    return _answer(ctx, user, inc)


@router.post("/{incident_id}/ack", responses=_REFUSALS)
def acknowledge(
    request: Request, incident_id: IncidentId, user: StaffUser, ctx: Ctx, session: SessionDep
) -> IncidentPublic:
    return _act(request, incident_id, user, ctx, session, actions.acknowledge)


@router.post("/{incident_id}/assign", responses=_REFUSALS)
def assign(
    request: Request,
    incident_id: IncidentId,
    body: AssignRequest,
    user: StaffUser,
    ctx: Ctx,
    session: SessionDep,
) -> IncidentPublic:
    """Assign to ``user:<name>`` (an enabled ops or admin user) or ``team:<id>`` (a team of
    the incident policy)."""
    return _act(
        request, incident_id, user, ctx, session, actions.assign,
        assignee=body.assignee, policy=get_policy(),
    )  # fmt: skip


@router.post("/{incident_id}/notes", responses=_REFUSALS)
def add_note(
    request: Request,
    incident_id: IncidentId,
    body: NoteRequest,
    user: StaffUser,
    ctx: Ctx,
    session: SessionDep,
) -> IncidentPublic:
    return _act(request, incident_id, user, ctx, session, actions.add_note, text=body.text)


@router.post("/{incident_id}/resolve", responses=_REFUSALS)
def resolve(
    request: Request,
    incident_id: IncidentId,
    body: ResolveRequest,
    user: StaffUser,
    ctx: Ctx,
    session: SessionDep,
) -> IncidentPublic:
    """Resolve with a reason; 409 ``needs: force`` while the cause still shows."""
    return _act(
        request, incident_id, user, ctx, session, actions.resolve,
        reason=body.reason, text=body.text, force=body.force, catalog=ctx.catalog,
    )  # fmt: skip


@router.post("/{incident_id}/reopen", responses=_REFUSALS)
def reopen(
    request: Request,
    incident_id: IncidentId,
    body: ReopenRequest,
    user: StaffUser,
    ctx: Ctx,
    session: SessionDep,
) -> IncidentPublic:
    return _act(request, incident_id, user, ctx, session, actions.reopen, reason=body.reason)


@router.get("/{incident_id}/audit", responses={404: _REFUSALS[404]})
def audit_log(
    incident_id: IncidentId,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AuditEntryPublic]:
    """Every action on the incident, oldest first. A merchant sees the merchant-safe entries
    of its own incidents, without who or from where."""
    inc = get_visible(session, incident_id, user)
    merchant = user.merchant_scope is not None
    rows = audit.entries(session, incident_id=inc.id, merchant_view=merchant, limit=limit)
    return [AuditEntryPublic(**audit.public_entry(e, merchant_view=merchant)) for e in rows]
