"""Bulk actions in the dashboard: pick a command for the selected terminals, confirm once, then
watch each terminal's answer arrive (an htmx fragment polled while any is open)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from posguard.common.commands import RemoteCommand
from posguard.fleet import bulk as bulk_service
from posguard.fleet import bulk_stages, config_params, packages
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import FirmwarePackage, Incident, Terminal
from posguard.fleet.web.bulk_selection import Selection, resolve
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep, staff_only

router = APIRouter(route_class=PageRoute, include_in_schema=False)

BulkId = Annotated[int, Path(ge=1, le=2**53)]
POLL_S = 2


def _summary(terminals: list[Terminal]) -> dict[str, Any]:
    return {
        "count": len(terminals),
        "by_model": Counter(f"{t.brand} {t.model}" for t in terminals).most_common(8),
        "by_host": Counter(t.acquirer_host for t in terminals).most_common(8),
        "sample": [t.id for t in terminals[:20]],
    }


def _selected(
    ctx: Ctx, session: SessionDep, user: WebUser, selection: Selection
) -> tuple[list[Terminal], Incident | None]:
    staff_only(user)
    try:
        terminals, incident = resolve(session, selection, now=ctx.clock.now(), catalog=ctx.catalog)
    except bulk_service.TooManyTerminalsError as exc:
        raise HTTPException(409, str(exc)) from None
    if selection.kind == "incident" and incident is None:
        raise HTTPException(404, "incident")
    return terminals, incident


@router.get("/ui/bulk/new")
def choose(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    """The selection's summary and the commands, each with how many terminals can run it."""
    selection = Selection.from_query(request.query_params.multi_items())
    terminals, incident = _selected(ctx, session, user, selection)
    data = {
        "selection": selection,
        "incident": incident,
        "offers": bulk_service.offers(session, terminals) if terminals else {},
        "packages": packages.listed(session),
        "params": config_params.PARAMS,
        **_summary(terminals),
    }
    return render(request, "bulk_new.html", data, user=user)


def _package(session: SessionDep, name: str, sha256: str) -> FirmwarePackage | None:
    """The package an ``update`` sends (required with it, refused with anything else)."""
    if name != RemoteCommand.UPDATE.value:
        if sha256:
            raise HTTPException(422, "a package goes with update only")
        return None
    found = session.get(FirmwarePackage, sha256) if sha256 else None
    if found is None:
        raise HTTPException(422, "update: choose a firmware package")
    return found


@router.post("/ui/bulk")
async def confirm_or_send(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    name: Annotated[str, Form(max_length=32)],
    confirm: Annotated[str, Form(max_length=8)] = "",
    expect: Annotated[int | None, Form(ge=0, le=10**6)] = None,
    first_pct: Annotated[str, Form(max_length=8)] = "",
    first_terminals: Annotated[str, Form(max_length=70_000)] = "",
    max_failure_pct: Annotated[str, Form(max_length=8)] = "",
    package: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Without ``confirm=yes``: the one confirmation (what, to how many, who is skipped; for a
    parameter push, each terminal's diff against its reported config). With it: the commands
    are queued and the progress page follows — unless the selection now holds another number
    of terminals than the user confirmed (``expect``): then the confirmation again, with the
    new number."""
    if name not in {c.value for c in bulk_service.BULK_COMMANDS}:
        raise HTTPException(422, f"not a bulk command: {name}")
    form = await request.form()
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    selection = Selection.from_query(
        (k, v) for k, v in items if k not in _NOT_SELECTION and not k.startswith("p.")
    )
    params = _params(name, items)
    terminals, incident = _selected(ctx, session, user, selection)
    chosen = _package(session, name, package.strip())
    planned = bulk_service.plan(
        session, terminals, RemoteCommand(name), models=chosen.models if chosen else None
    )
    if not planned.send_to:
        raise HTTPException(409, "no selected terminal can run this command")
    staging = _staging(first_pct, max_failure_pct)
    first = _first_list(first_terminals)
    if first and staging[0] is not None:
        raise HTTPException(422, "first stage: give a percentage or a list, not both")
    ids = [t.id for t in planned.send_to]
    try:
        if first:
            bulk_stages.check_first(first, ids)
    except bulk_stages.StageRefusedError as exc:
        raise HTTPException(422, str(exc)) from None
    changed = expect is not None and expect != len(planned.send_to)
    if confirm != "yes" or changed:
        data = {
            "selection": selection,
            "incident": incident,
            "planned": planned,
            "changed_from": expect if changed else None,
            "stages": bulk_stages.split(ids, staging[0], first=first),
            "first_pct": first_pct.strip(),
            "first_terminals": " ".join(first),
            "max_failure_pct": max_failure_pct.strip(),
            "package": chosen,
            "params": params,
            "form_params": [(f"p.{k}", v) for k, v in config_params.from_form(items).items()],
            "diff": config_params.diff(session, ids, params) if params else None,
            "diff_rows": config_params.MAX_DIFF_ROWS,
            "show": config_params.shown,
        }
        return render(request, "bulk_confirm.html", {**data, **_summary(terminals)}, user=user)
    done = bulk_service.send(
        session,
        planned=planned,
        selection=selection.record(),
        username=user.username,
        now=ctx.clock.now(),
        incident_id=incident.id if incident else None,
        first_pct=staging[0],
        first_terminals=first,
        max_failure=staging[1],
        args=packages.update_args(chosen) if chosen else params,
    )
    return RedirectResponse(f"/ui/bulk/{done.id}", status_code=303)


_NOT_SELECTION = frozenset({"csrf", "package", "first_terminals"})


def _params(name: str, items: list[tuple[str, str]]) -> dict[str, object] | None:
    """A parameter push's parameters (the ``p.<key>`` fields filled in), typed; None for
    another command."""
    if name != RemoteCommand.UPDATE_CONFIG.value:
        return None
    try:
        return config_params.check(config_params.from_form(items))
    except config_params.ParamError as exc:
        raise HTTPException(422, f"update_config: {exc}") from None


def _first_list(text: str) -> list[str]:
    """The first stage's terminal ids as typed (spaces, commas or lines between them)."""
    return list(dict.fromkeys(t for t in re.split(r"[\s,;]+", text.strip()) if t))


def _staging(first_pct: str, max_failure_pct: str) -> tuple[float | None, float | None]:
    """(first stage %, pause above this failure rate) from the form; blank: all at once."""

    def number(text: str, what: str, low: float, high: float) -> float | None:
        if not text.strip():
            return None
        try:
            value = float(text)
        except ValueError:
            raise HTTPException(422, f"{what} must be a number") from None
        if not low <= value <= high:
            raise HTTPException(422, f"{what} must be between {low:g} and {high:g}")
        return value

    first = number(first_pct, "first stage %", 1, 100)
    failure = number(max_failure_pct, "pause above failure %", 0, 100)
    return first, None if failure is None else failure / 100


@router.post("/ui/bulk/{bulk_id}/release")
def release(
    bulk_id: BulkId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    anyway: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The next stage's commands (a paused action only with ``anyway=yes``)."""
    found = _progress(session, user, bulk_id)
    try:
        bulk_stages.release_next(
            session, found.bulk, username=user.username, now=ctx.clock.now(), anyway=anyway == "yes"
        )
    except bulk_stages.StageRefusedError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/ui/bulk/{bulk_id}", status_code=303)


@router.post("/ui/bulk/{bulk_id}/pause")
def pause(
    bulk_id: BulkId,
    session: SessionDep,
    user: PostUser,
    back: Annotated[str, Form(max_length=200, pattern=r"^/ui/[A-Za-z0-9/_-]*$")] = "",
) -> Response:
    """Hold a running rollout (from its page, or the bad-firmware incident's button)."""
    found = _progress(session, user, bulk_id)
    bulk_stages.pause(session, found.bulk)
    return RedirectResponse(back or f"/ui/bulk/{bulk_id}", status_code=303)


@router.post("/ui/bulk/{bulk_id}/stop")
def stop(bulk_id: BulkId, ctx: Ctx, session: SessionDep, user: PostUser) -> Response:
    found = _progress(session, user, bulk_id)
    bulk_stages.stop(session, found.bulk, username=user.username, now=ctx.clock.now())
    return RedirectResponse(f"/ui/bulk/{bulk_id}", status_code=303)


def _progress(session: SessionDep, user: WebUser, bulk_id: int) -> bulk_service.Progress:
    staff_only(user)
    found = bulk_service.progress(session, bulk_id=bulk_id)
    if found is None:
        raise HTTPException(404, "bulk action")
    return found


@router.get("/ui/bulk/{bulk_id}")
def progress_page(
    request: Request, bulk_id: BulkId, session: SessionDep, user: WebUserDep
) -> Response:
    data = {
        "p": _progress(session, user, bulk_id),
        "poll_s": POLL_S,
        "show": config_params.shown,
        "param_keys": {f"param.{k}" for k in config_params.BY_KEY},
    }
    return render(request, "bulk.html", data, user=user)


@router.get("/ui/bulk/{bulk_id}/progress")
def progress_fragment(
    request: Request, bulk_id: BulkId, session: SessionDep, user: WebUserDep
) -> Response:
    data = {"p": _progress(session, user, bulk_id), "poll_s": POLL_S}
    return render(request, "_bulk_progress.html", data, user=user)


@router.get("/ui/bulk")
def bulk_list(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    staff_only(user)
    data = {"actions": bulk_service.recent(session, limit=50)}
    return render(request, "bulk_list.html", data, user=user)
