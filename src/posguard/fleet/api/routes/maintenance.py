"""Preventive maintenance: schedules per model, records, overdue list, outdated firmware."""

from __future__ import annotations

from fastapi import APIRouter, status

from posguard.fleet import maintenance as svc
from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser, not_found
from posguard.fleet.api.schemas.maintenance import (
    OutdatedPublic,
    OverduePublic,
    RecordCreate,
    RecordPublic,
    ScheduleCreate,
    SchedulePublic,
)
from posguard.fleet.repo import terminals as terminal_repo

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])


@router.get("/schedules")
def list_schedules(_: CurrentUser, session: SessionDep) -> list[SchedulePublic]:
    return [SchedulePublic.model_validate(s) for s in svc.list_schedules(session)]


@router.put("/schedules")
def set_schedule(body: ScheduleCreate, _: StaffUser, session: SessionDep) -> SchedulePublic:
    """Create or replace the schedule of one terminal model."""
    sched = svc.set_schedule(
        session,
        model=body.model,
        inspection_interval_days=body.inspection_interval_days,
        firmware_minimum=body.firmware_minimum,
        note=body.note,
    )
    return SchedulePublic.model_validate(sched)


@router.post(
    "/records",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such terminal"}},
)
def add_record(body: RecordCreate, user: StaffUser, ctx: Ctx, session: SessionDep) -> RecordPublic:
    """Record maintenance done on a terminal (an ``inspection`` restarts its schedule)."""
    if terminal_repo.get_terminal(session, terminal_id=body.terminal_id) is None:
        raise not_found("terminal")
    when = body.performed_at or ctx.clock.now()
    rec = svc.record(
        session,
        terminal_id=body.terminal_id,
        kind=body.kind,
        performed_at=when,
        performed_by=user.username,
        note=body.note,
    )
    return RecordPublic.model_validate(rec)


@router.get("/overdue")
def overdue(user: CurrentUser, ctx: Ctx, session: SessionDep) -> list[OverduePublic]:
    """Terminals past their model's inspection interval."""
    rows = svc.overdue(session, today=ctx.clock.now().date(), merchant_id=user.merchant_scope)
    return [OverduePublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/firmware-outdated")
def firmware_outdated(user: CurrentUser, session: SessionDep) -> list[OutdatedPublic]:
    """Terminals running firmware below their model's minimum."""
    rows = svc.outdated_firmware(session, merchant_id=user.merchant_scope)
    return [OutdatedPublic.model_validate(r, from_attributes=True) for r in rows]
