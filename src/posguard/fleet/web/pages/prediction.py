"""Predictive maintenance in the dashboard: the visit-before-it-fails list per area, a
terminal's risk with its reasons (a fragment the terminal page loads), and recording a visit's
finding against the prediction. A merchant sees its own terminals only; recording is staff's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.prediction import visits
from posguard.fleet.prediction.components import BY_NAME
from posguard.fleet.prediction.visit_list import predict, record_against_prediction, visit_list
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUserDep, staff_only, visible_terminal

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TerminalId = Annotated[str, Path(max_length=64)]


@router.get("/ui/maintenance")
def maintenance_page(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: WebUserDep,
    area: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    lists = visit_list(session, now=ctx.clock.now(), merchant_id=user.merchant_scope, area=area)
    stats = visits.visit_stats(session, merchant_id=user.merchant_scope)
    return render(
        request,
        "prediction.html",
        {"areas": lists, "stats": stats, "components": BY_NAME, "area": area or ""},
        user=user,
    )


@router.get("/ui/terminals/{terminal_id}/prediction")
def terminal_prediction(
    request: Request, terminal_id: TerminalId, ctx: Ctx, session: SessionDep, user: WebUserDep
) -> Response:
    """The terminal page's prediction card (loaded by htmx into ``#prediction``)."""
    terminal = visible_terminal(session, terminal_id, user)
    (found,) = predict(session, terminals=[terminal], now=ctx.clock.now())
    return render(
        request,
        "_prediction.html",
        {
            "p": found,
            "components": BY_NAME,
            "visits": visits.list_visits(session, terminal_id=terminal.id, limit=10),
        },
        user=user,
    )


@router.post("/ui/terminals/{terminal_id}/visits")
def record_visit(
    terminal_id: TerminalId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    outcome: Annotated[Literal["confirmed", "not_confirmed"], Form()],
    part_replaced: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    staff_only(user)
    terminal = visible_terminal(session, terminal_id, user)
    try:
        record_against_prediction(
            session,
            terminal=terminal,
            outcome=visits.Outcome(outcome),
            part_replaced=bool(part_replaced) and outcome == "confirmed",
            now=ctx.clock.now(),
            performed_by=user.username,
            note=note,
        )
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(f"/ui/terminals/{terminal.id}#prediction", status_code=303)
