"""Remote commands: issue (staff), read (users), pick up over HTTP (the terminal's credential)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser, TerminalAuth, not_found
from posguard.fleet.api.routes.terminals import TerminalId
from posguard.fleet.api.schemas.commands import CommandCreate, CommandMessage, CommandPublic
from posguard.fleet.metrics import COMMANDS_SENT
from posguard.fleet.repo import commands as repo
from posguard.fleet.repo import terminals as terminal_repo

router = APIRouter(prefix="/api/v1", tags=["commands"])


@router.post(
    "/terminals/{terminal_id}/commands",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such terminal"}},
)
def issue(
    terminal_id: TerminalId, body: CommandCreate, user: StaffUser, ctx: Ctx, session: SessionDep
) -> CommandPublic:
    """Queue a command; it goes out over MQTT or waits for the terminal's HTTP pickup."""
    terminal = terminal_repo.get_terminal(session, terminal_id=terminal_id)
    if terminal is None:
        raise not_found("terminal")
    cmd = repo.issue_command(
        session,
        terminal=terminal,
        name=body.name,
        args=body.args,
        issued_by=f"user:{user.username}",
        now=ctx.clock.now(),
    )
    return CommandPublic.model_validate(cmd)


@router.get(
    "/terminals/{terminal_id}/commands",
    responses={404: {"description": "no such terminal (or not yours)"}},
)
def list_for_terminal(
    terminal_id: TerminalId,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CommandPublic]:
    if (
        terminal_repo.get_terminal(
            session, terminal_id=terminal_id, merchant_id=user.merchant_scope
        )
        is None
    ):
        raise not_found("terminal")
    return [
        CommandPublic.model_validate(c)
        for c in repo.list_commands(session, terminal_id=terminal_id, limit=limit)
    ]


@router.get(
    "/terminals/{terminal_id}/commands/pending",
    responses={
        401: {"description": "bad credential"},
        403: {"description": "revoked"},
        404: {"description": "not this credential's terminal"},
    },
)
def pickup(
    terminal_id: TerminalId, terminal: TerminalAuth, ctx: Ctx, session: SessionDep
) -> list[CommandMessage]:
    """The terminal collects its pending commands (marked sent); it answers each with a
    ``command_result`` event carrying ``command_id``, ``status`` and ``detail``."""
    if terminal.id != terminal_id:
        raise not_found("terminal")
    now = ctx.clock.now()
    cmds = repo.pending_commands(session, terminal_id=terminal.id, now=now)
    repo.mark_sent(session, commands=cmds, now=now)
    COMMANDS_SENT.labels("http").inc(len(cmds))
    return [CommandMessage.model_validate(repo.command_message(c)) for c in cmds]


@router.get(
    "/commands/{command_id}", responses={404: {"description": "no such command (or not yours)"}}
)
def get_command(
    command_id: Annotated[str, Path(max_length=36)], user: CurrentUser, session: SessionDep
) -> CommandPublic:
    cmd = repo.get_command(session, command_id=command_id, merchant_id=user.merchant_scope)
    if cmd is None:
        raise not_found("command")
    return CommandPublic.model_validate(cmd)
