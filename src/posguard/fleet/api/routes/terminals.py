"""Terminals: register (credential shown once), list, show, revoke, rotate the credential."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser, not_found
from posguard.fleet.api.schemas.terminals import (
    TerminalCreate,
    TerminalCredentialPublic,
    TerminalPublic,
)
from posguard.fleet.repo import terminals as repo

router = APIRouter(prefix="/api/v1/terminals", tags=["terminals"])

TerminalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


@router.get("")
def list_terminals(
    user: CurrentUser,
    session: SessionDep,
    area: Annotated[str | None, Query(max_length=128)] = None,
    acquirer_host: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[TerminalPublic]:
    """Terminals the caller may see (a merchant: only its own)."""
    rows = repo.list_terminals(
        session,
        merchant_id=user.merchant_scope,
        area=area,
        acquirer_host=acquirer_host,
        limit=limit,
        offset=offset,
    )
    return [TerminalPublic.model_validate(t) for t in rows]


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "id taken"}})
def add_terminal(
    body: TerminalCreate, _: StaffUser, ctx: Ctx, session: SessionDep
) -> TerminalCredentialPublic:
    """Register a terminal; the response carries its credential, shown this once."""
    if repo.get_terminal(session, terminal_id=body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"terminal {body.id} already exists")
    terminal, cred = repo.add_terminal(
        session,
        terminal_id=body.id,
        merchant_id=body.merchant_id,
        merchant_name=body.merchant_name,
        model=body.model,
        brand=body.brand,
        firmware=body.firmware,
        acquirer_host=body.acquirer_host,
        area=body.area,
        location=body.location,
        install_date=body.install_date,
        warranty_end=body.warranty_end,
        now=ctx.clock.now(),
    )
    return TerminalCredentialPublic(
        terminal=TerminalPublic.model_validate(terminal), credential=cred.token
    )


@router.get("/{terminal_id}", responses={404: {"description": "no such terminal (or not yours)"}})
def get_terminal(terminal_id: TerminalId, user: CurrentUser, session: SessionDep) -> TerminalPublic:
    terminal = repo.get_terminal(session, terminal_id=terminal_id, merchant_id=user.merchant_scope)
    if terminal is None:
        raise not_found("terminal")
    return TerminalPublic.model_validate(terminal)


@router.post("/{terminal_id}/revoke", responses={404: {"description": "no such terminal"}})
def revoke(terminal_id: TerminalId, _: StaffUser, session: SessionDep) -> TerminalPublic:
    """Refuse this terminal's events and command pickups from now on."""
    terminal = repo.get_terminal(session, terminal_id=terminal_id)
    if terminal is None:
        raise not_found("terminal")
    repo.revoke_terminal(session, terminal=terminal)
    return TerminalPublic.model_validate(terminal)


@router.post("/{terminal_id}/credential", responses={404: {"description": "no such terminal"}})
def rotate(terminal_id: TerminalId, _: StaffUser, session: SessionDep) -> TerminalCredentialPublic:
    """Issue a new credential (the old one stops working) and un-revoke the terminal."""
    terminal = repo.get_terminal(session, terminal_id=terminal_id)
    if terminal is None:
        raise not_found("terminal")
    cred = repo.rotate_credential(session, terminal=terminal)
    return TerminalCredentialPublic(
        terminal=TerminalPublic.model_validate(terminal), credential=cred.token
    )
