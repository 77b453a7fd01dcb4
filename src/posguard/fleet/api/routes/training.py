"""Who needs training on what (``posguard.fleet.training``): the training list (operator-error
rates per merchant and operator against the fleet's, with topics) and the training sessions
recorded against it, each with its error rate before and after. A merchant sees its own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser
from posguard.fleet.api.errors import unprocessable
from posguard.fleet.training import (
    SessionRefusedError,
    TrainingList,
    list_sessions,
    record_session,
    training_list,
)

router = APIRouter(prefix="/api/v1/training", tags=["training"])


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: Annotated[str, Field(min_length=1, max_length=64)]
    operator: Annotated[str | None, Field(max_length=16)] = None
    topics: Annotated[list[str], Field(min_length=1, max_length=20)]
    held_at: AwareDatetime | None = None
    note: Annotated[str, Field(max_length=2000)] = ""


class SessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    merchant_id: str
    operator: str | None
    topics: list[str]
    held_at: datetime
    trainer: str
    note: str


@router.get("/list")
def get_list(
    user: CurrentUser,
    ctx: Ctx,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=365, description="Days up to now")] = 28,
) -> TrainingList:
    return training_list(session, now=ctx.clock.now(), days=days, merchant_id=user.merchant_scope)


@router.get("/sessions")
def get_sessions(user: CurrentUser, session: SessionDep) -> list[SessionPublic]:
    rows = list_sessions(session, merchant_id=user.merchant_scope)
    return [SessionPublic.model_validate(r) for r in rows]


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
def add_session(
    body: SessionCreate, user: StaffUser, ctx: Ctx, session: SessionDep
) -> SessionPublic:
    """Record a training session held (staff only)."""
    now = ctx.clock.now()
    try:
        row = record_session(
            session,
            merchant_id=body.merchant_id,
            operator=body.operator,
            topics=body.topics,
            held_at=body.held_at or now,
            trainer=user.username,
            now=now,
            catalog=ctx.catalog,
            note=body.note,
        )
    except SessionRefusedError as exc:
        field, _, msg = str(exc).partition(": ")
        raise unprocessable(msg, "body", field) from exc
    return SessionPublic.model_validate(row)
