"""Bulk actions (staff): the dashboard's group commands, over the API with the same rules —
the same selection, the same capability check, one ordinary command per capable terminal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from posguard.common.commands import RemoteCommand
from posguard.fleet import bulk as service
from posguard.fleet import bulk_stages, config_params
from posguard.fleet.api.deps import Ctx, SessionDep, StaffUser, not_found
from posguard.fleet.api.schemas.bulk import (
    BulkCommandPublic,
    BulkCreate,
    BulkPublic,
    BulkStagePublic,
    ConfigChangePublic,
    ConfigDiffPublic,
    ConfigDiffRequest,
    TerminalDiffPublic,
)
from posguard.fleet.db.models import FirmwarePackage
from posguard.fleet.packages import update_args
from posguard.fleet.web.bulk_selection import Selection, resolve

router = APIRouter(prefix="/api/v1/bulk-actions", tags=["bulk actions"])


def _public(found: service.Progress) -> BulkPublic:
    b = found.bulk
    return BulkPublic(
        id=b.id,
        name=b.name,
        args=dict(b.args),
        created_by=b.created_by,
        created_at=b.created_at,
        incident_id=b.incident_id,
        state=b.state,
        stages=[
            BulkStagePublic(
                size=st.size,
                released=st.released,
                answered=st.answered,
                failed=st.failed,
                failure_rate=st.failure_rate,
            )
            for st in found.stages
        ],
        sent=b.sent,
        skipped=list(b.skipped),
        counts=dict(found.counts),
        commands=[BulkCommandPublic.model_validate(c) for c in found.rows],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "no such incident or package"},
        409: {"description": "too many terminals, or none can run the command"},
        422: {
            "description": "not a bulk command, a bad selection, a bad parameter, or a first "
            "stage naming a terminal the action is not sent to"
        },
    },
)
def create(body: BulkCreate, user: StaffUser, ctx: Ctx, session: SessionDep) -> BulkPublic:
    if body.name not in service.BULK_COMMANDS:
        raise HTTPException(422, f"{body.name.value} is not a bulk command")
    params = _params(body.params) if body.params is not None else None
    selection = Selection.from_query(body.selection.pairs())
    package = session.get(FirmwarePackage, body.package) if body.package else None
    if body.package and package is None:
        raise not_found("package")
    try:
        terminals, incident = resolve(session, selection, now=ctx.clock.now(), catalog=ctx.catalog)
        planned = service.plan(
            session, terminals, body.name, models=package.models if package else None
        )
    except service.TooManyTerminalsError as exc:
        raise HTTPException(409, str(exc)) from None
    if selection.kind == "incident" and incident is None:
        raise not_found("incident")
    if not planned.send_to:
        raise HTTPException(409, "no selected terminal can run this command")
    try:
        done = service.send(
            session,
            planned=planned,
            selection=selection.record(),
            username=user.username,
            now=ctx.clock.now(),
            incident_id=incident.id if incident else None,
            first_pct=body.first_pct,
            first_terminals=body.first_terminals,
            max_failure=body.max_failure,
            args=update_args(package) if package else params,
        )
    except bulk_stages.StageRefusedError as exc:
        raise HTTPException(422, str(exc)) from None
    found = service.progress(session, bulk_id=done.id)
    assert found is not None
    return _public(found)


def _params(given: dict[str, object]) -> dict[str, object]:
    try:
        return config_params.check(given)
    except config_params.ParamError as exc:
        raise HTTPException(422, f"params: {exc}") from None


@router.post(
    "/config-diff",
    responses={
        404: {"description": "no such incident"},
        409: {"description": "too many terminals"},
        422: {"description": "a bad selection or parameter"},
    },
)
def config_diff(
    body: ConfigDiffRequest, _: StaffUser, ctx: Ctx, session: SessionDep
) -> ConfigDiffPublic:
    """What a parameter push would change on each selected terminal, against the config its
    newest heartbeat reported; nothing is sent."""
    params = _params(body.params)
    selection = Selection.from_query(body.selection.pairs())
    try:
        terminals, incident = resolve(session, selection, now=ctx.clock.now(), catalog=ctx.catalog)
        planned = service.plan(session, terminals, RemoteCommand.UPDATE_CONFIG)
    except service.TooManyTerminalsError as exc:
        raise HTTPException(409, str(exc)) from None
    if selection.kind == "incident" and incident is None:
        raise not_found("incident")
    found = config_params.diff(session, [t.id for t in planned.send_to], params)
    return ConfigDiffPublic(
        params=params,
        changing=found.changing,
        unchanged=found.unchanged,
        unknown=found.unknown,
        skipped=list(planned.skipped),
        terminals=[
            TerminalDiffPublic(
                terminal_id=r.terminal_id,
                changes=None
                if r.changes is None
                else [ConfigChangePublic(key=c.key, old=c.old, new=c.new) for c in r.changes],
            )
            for r in found.rows[: config_params.MAX_DIFF_ROWS]
        ],
    )


BulkId = Annotated[int, Path(ge=1, le=2**53)]


@router.post(
    "/{bulk_id}/release",
    responses={404: {"description": "no such bulk action"}, 409: {"description": "paused"}},
)
def release(
    bulk_id: BulkId,
    user: StaffUser,
    ctx: Ctx,
    session: SessionDep,
    anyway: Annotated[bool, Query()] = False,
) -> BulkPublic:
    """The next stage's commands; a paused action only with ``anyway=true``."""
    found = service.progress(session, bulk_id=bulk_id)
    if found is None:
        raise not_found("bulk action")
    try:
        bulk_stages.release_next(
            session, found.bulk, username=user.username, now=ctx.clock.now(), anyway=anyway
        )
    except bulk_stages.StageRefusedError as exc:
        raise HTTPException(409, str(exc)) from None
    again = service.progress(session, bulk_id=bulk_id)
    assert again is not None
    return _public(again)


@router.post(
    "/{bulk_id}/pause",
    responses={404: {"description": "no such bulk action"}, 409: {"description": "not running"}},
)
def pause(bulk_id: BulkId, _: StaffUser, session: SessionDep) -> BulkPublic:
    """Hold a running action: no next stage until released with ``anyway=true``."""
    found = service.progress(session, bulk_id=bulk_id)
    if found is None:
        raise not_found("bulk action")
    if not bulk_stages.pause(session, found.bulk):
        raise HTTPException(409, f"bulk action {bulk_id} is {found.bulk.state}, not running")
    again = service.progress(session, bulk_id=bulk_id)
    assert again is not None
    return _public(again)


@router.post("/{bulk_id}/stop", responses={404: {"description": "no such bulk action"}})
def stop(bulk_id: BulkId, user: StaffUser, ctx: Ctx, session: SessionDep) -> BulkPublic:
    """No further stage; the commands not yet taken expire."""
    found = service.progress(session, bulk_id=bulk_id)
    if found is None:
        raise not_found("bulk action")
    bulk_stages.stop(session, found.bulk, username=user.username, now=ctx.clock.now())
    again = service.progress(session, bulk_id=bulk_id)
    assert again is not None
    return _public(again)


@router.get("/{bulk_id}", responses={404: {"description": "no such bulk action"}})
def get(bulk_id: BulkId, _: StaffUser, session: SessionDep) -> BulkPublic:
    found = service.progress(session, bulk_id=bulk_id)
    if found is None:
        raise not_found("bulk action")
    return _public(found)
