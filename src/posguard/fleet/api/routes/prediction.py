"""Predictive maintenance: the visit-before-it-fails list, a terminal's risk, visits recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser, not_found
from posguard.fleet.api.schemas.prediction import (
    AreaVisitsPublic,
    PredictionPublic,
    VisitCreate,
    VisitPublic,
    VisitStatsPublic,
)
from posguard.fleet.prediction import visits as svc
from posguard.fleet.prediction.visit_list import predict, record_against_prediction, visit_list
from posguard.fleet.repo import terminals as terminal_repo

router = APIRouter(prefix="/api/v1/prediction", tags=["prediction"])


@router.get("/visit-list")
def get_visit_list(
    user: CurrentUser,
    ctx: Ctx,
    session: SessionDep,
    area: Annotated[str | None, Query(max_length=128)] = None,
) -> list[AreaVisitsPublic]:
    """Per area, the terminals to visit before they fail, riskiest first, with the reasons."""
    lists = visit_list(session, now=ctx.clock.now(), merchant_id=user.merchant_scope, area=area)
    return [
        AreaVisitsPublic(area=a, terminals=[PredictionPublic.of(p) for p in items])
        for a, items in lists.items()
    ]


@router.get("/terminals/{terminal_id}", responses={404: {"description": "no such terminal"}})
def get_terminal_prediction(
    terminal_id: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    ctx: Ctx,
    session: SessionDep,
) -> PredictionPublic:
    """One terminal's risk, per component, and what it rests on."""
    terminal = terminal_repo.get_terminal(
        session, terminal_id=terminal_id, merchant_id=user.merchant_scope
    )
    if terminal is None:
        raise not_found("terminal")
    (found,) = predict(session, terminals=[terminal], now=ctx.clock.now())
    return PredictionPublic.of(found)


@router.post(
    "/visits",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such terminal"}, 422: {"description": "inconsistent"}},
)
def add_visit(body: VisitCreate, user: StaffUser, ctx: Ctx, session: SessionDep) -> VisitPublic:
    """Record what a visit found against the terminal's prediction (kept with the visit)."""
    terminal = terminal_repo.get_terminal(session, terminal_id=body.terminal_id)
    if terminal is None:
        raise not_found("terminal")
    try:
        visit = record_against_prediction(
            session,
            terminal=terminal,
            outcome=svc.Outcome(body.outcome),
            part_replaced=body.part_replaced,
            now=ctx.clock.now(),
            performed_by=user.username,
            component=body.component,
            visited_at=body.visited_at,
            note=body.note,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return VisitPublic.model_validate(visit)


@router.get("/visits")
def get_visits(
    user: CurrentUser,
    session: SessionDep,
    terminal_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[VisitPublic]:
    rows = svc.list_visits(
        session, terminal_id=terminal_id, merchant_id=user.merchant_scope, limit=limit
    )
    return [VisitPublic.model_validate(v) for v in rows]


@router.get("/visits/stats")
def get_visit_stats(user: CurrentUser, session: SessionDep) -> VisitStatsPublic:
    """Recorded visits and how many confirmed their prediction (precision in the field)."""
    s = svc.visit_stats(session, merchant_id=user.merchant_scope)
    return VisitStatsPublic(
        visits=s.visits, confirmed=s.confirmed, confirmed_share=s.confirmed_share
    )
