"""Remote commands from the dashboard: a confirmation step, then the command goes through the
fleet's command repository; a polled fragment shows its result once the terminal answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from posguard.common.commands import COMMAND_NAMES, Page, offered_on
from posguard.fleet import capabilities
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.capabilities import can_run
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo import incidents as incident_repo
from posguard.fleet.web.pages.auth import safe_next
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUserDep, staff_only, visible_terminal

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TERMINAL_ACTIONS = offered_on(Page.TERMINAL)
"""The terminal page's buttons (``common.commands`` says which commands each page offers)."""

TerminalId = Annotated[str, Path(max_length=64)]


def available(name: str) -> bool:
    return name in COMMAND_NAMES


@router.post("/ui/terminals/{terminal_id}/commands")
def send_command(
    request: Request,
    terminal_id: TerminalId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    name: Annotated[str, Form(max_length=32)],
    incident_id: Annotated[int | None, Form(ge=1, le=2**53)] = None,
    confirm: Annotated[str, Form(max_length=8)] = "",
    back: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Without ``confirm=yes``: the confirmation page. With it: issue, then back to the page."""
    staff_only(user)
    terminal = visible_terminal(session, terminal_id, user)
    if not available(name):
        raise HTTPException(422, f"unknown command {name}")
    if not can_run(capabilities.of_terminals(session, [terminal.id]).get(terminal.id), name):
        raise HTTPException(409, f"{terminal_id} cannot run {name}")
    incident = None
    if incident_id is not None:
        incident = incident_repo.get_incident(session, incident_id=incident_id)
        if incident is None:
            raise HTTPException(404, "incident")
    back_to = safe_next(back or f"/ui/terminals/{terminal_id}")
    if confirm != "yes":
        return render(
            request,
            "confirm_command.html",
            {"terminal": terminal, "name": name, "incident": incident, "back": back_to},
            user=user,
        )
    command_repo.issue_command(
        session,
        terminal=terminal,
        name=name,
        args={},
        issued_by=f"user:{user.username}",
        now=ctx.clock.now(),
        incident_id=incident.id if incident else None,
        origin=request.client.host if request.client else "unknown",
    )
    sep = "&" if "?" in back_to else "?"
    return RedirectResponse(f"{back_to}{sep}sent={name}", status_code=303)


@router.get("/ui/terminals/{terminal_id}/commands")
def commands_fragment(
    request: Request,
    terminal_id: TerminalId,
    session: SessionDep,
    user: WebUserDep,
    incident: int | None = None,
) -> Response:
    """The command list with statuses and results; polled while any is still open."""
    visible_terminal(session, terminal_id, user)  # 404 unless the reader may see it
    cmds = command_repo.list_commands(session, terminal_id=terminal_id, limit=20)
    if incident is not None:
        cmds = [c for c in cmds if c.incident_id == incident]
    return render(
        request,
        "_commands.html",
        {"commands": cmds, "terminal_id": terminal_id, "incident_filter": incident},
        user=user,
    )
