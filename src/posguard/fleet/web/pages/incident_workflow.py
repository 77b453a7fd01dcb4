"""The incident page's actions: acknowledge, assign, note, resolve with a reason (a
confirmation page when the cause still shows), reopen. Each goes through
``fleet.incident_actions``, the service the API uses, and comes back to the incident page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from posguard.fleet import incident_actions as actions
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import Incident
from posguard.fleet.incident_actions import Actor, CauseStillActiveError, TransitionRefusedError
from posguard.fleet.incident_policy import get_policy, reason_label
from posguard.fleet.repo import incidents as repo
from posguard.fleet.web.i18n import lang_key
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, staff_only

router = APIRouter(route_class=PageRoute, include_in_schema=False)

IncidentId = Annotated[int, Path(ge=1, le=2**53)]
Text = Annotated[str, Form(max_length=2000)]


def _target(session: SessionDep, user: WebUser, incident_id: int) -> Incident:
    staff_only(user)
    inc = repo.get_incident(session, incident_id=incident_id)
    if inc is None:
        raise HTTPException(404, "incident")
    return inc


def _actor(request: Request, user: WebUser) -> Actor:
    return Actor(user.username, user.role, request.client.host if request.client else "unknown")


def _refused(exc: TransitionRefusedError) -> HTTPException:
    return HTTPException(403 if exc.forbidden else 422 if exc.invalid else 409, exc.message)


def _back(incident_id: int) -> Response:
    return RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)


def _act(
    request: Request,
    incident_id: int,
    ctx: Ctx,
    session: SessionDep,
    user: WebUser,
    action: Callable[..., object],
    **args: object,
) -> Response:
    """One step of the workflow (a function of ``fleet.incident_actions``) as the staff user,
    now: ``action(session, incident=, actor=, now=, **args)``; a refusal is its HTTP error,
    else back to the incident page."""
    inc = _target(session, user, incident_id)
    try:
        action(session, incident=inc, actor=_actor(request, user), now=ctx.clock.now(), **args)
    except TransitionRefusedError as exc:
        raise _refused(exc) from None
    return _back(incident_id)


@router.post("/ui/incidents/{incident_id}/ack")
def acknowledge(
    request: Request, incident_id: IncidentId, ctx: Ctx, session: SessionDep, user: PostUser
) -> Response:
    return _act(request, incident_id, ctx, session, user, actions.acknowledge)


@router.post("/ui/incidents/{incident_id}/assign")
def assign(
    request: Request,
    incident_id: IncidentId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    assignee: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    return _act(
        request, incident_id, ctx, session, user, actions.assign,
        assignee=assignee, policy=get_policy(),
    )  # fmt: skip


@router.post("/ui/incidents/{incident_id}/notes")
def add_note(
    request: Request,
    incident_id: IncidentId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    text: Text = "",
) -> Response:
    return _act(request, incident_id, ctx, session, user, actions.add_note, text=text)


@router.post("/ui/incidents/{incident_id}/resolve")
def resolve(
    request: Request,
    incident_id: IncidentId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    reason: Annotated[str, Form(max_length=32)] = "",
    text: Text = "",
    force: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Without ``force=yes`` while the cause still shows: the confirmation page."""
    inc = _target(session, user, incident_id)
    try:
        actions.resolve(
            session,
            incident=inc,
            actor=_actor(request, user),
            now=ctx.clock.now(),
            reason=reason,
            text=text,
            force=force == "yes",
            catalog=ctx.catalog,
        )
    except CauseStillActiveError as exc:
        return render(
            request,
            "confirm_resolve.html",
            {
                "inc": inc,
                "cause": exc.cause,
                "reason": reason,
                "reason_text": reason_label(reason, lang_key(user.lang)),
                "text": text,
            },
            user=user,
            status_code=409,
        )
    except TransitionRefusedError as exc:
        raise _refused(exc) from None
    return _back(incident_id)


@router.post("/ui/incidents/{incident_id}/reopen")
def reopen(
    request: Request,
    incident_id: IncidentId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    reason: Text = "",
) -> Response:
    return _act(request, incident_id, ctx, session, user, actions.reopen, reason=reason)
