"""Administration (admin role only): users and roles, and per terminal its transfer to another
merchant, credential rotation and revocation, and maintenance / inspection records (so the
terminal page's "next inspection due" counts from the last real inspection).

A new credential is shown once, on the page that answers the POST (no redirect, no-store):
the fleet keeps only its hash."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from posguard.common.validation import first_error
from posguard.fleet import maintenance
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.api.schemas.users import UserCreate
from posguard.fleet.db.models import MaintenanceRecord, Merchant, Terminal
from posguard.fleet.repo import terminals as terminal_repo
from posguard.fleet.repo import users as user_repo
from posguard.fleet.repo.users import Role
from posguard.fleet.security import TerminalCredential
from posguard.fleet.transfer import TransferRefusedError, transfer_terminal
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TerminalId = Annotated[str, Path(max_length=64)]
Username = Annotated[str, Path(max_length=64)]
MAINTENANCE_KINDS = ("inspection", "repair", "replacement", "cleaning")
DONE_KEYS = frozenset(
    f"admin.done.{k}"
    for k in ("user_created", "user_disabled", "user_enabled", "revoked", "recorded")
)


def admin_only(user: WebUser) -> None:
    if user.role is not Role.ADMIN:
        raise HTTPException(403, "forbidden")


class FormRefusal(TypedDict):
    """What a page shows for a form the fleet refused (``**refusal(exc, user)``)."""

    error: str
    status_code: int


def refusal(exc: AdminRefusedError, user: WebUser) -> FormRefusal:
    """A refused form: its one line in the reader's language, shown above the form (the page
    keeps what was typed), and the refusal's HTTP status."""
    return {"error": exc.text(user.lang), "status_code": exc.status}


@router.get("/ui/admin")
def admin_page(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    admin_only(user)
    data = {
        "users": user_repo.list_users(session),
        "roles": [r.value for r in Role],
        "done": request.query_params.get("done", "")[:32],
        "done_keys": DONE_KEYS,
    }
    return render(request, "admin.html", data, user=user)


@router.post("/ui/admin/users")
def create_user(
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)],
    merchant_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The same rules as ``POST /api/v1/users`` (``UserCreate``)."""
    admin_only(user)
    try:
        body = UserCreate(
            username=username.strip(),
            password=password,
            role=role,
            merchant_id=merchant_id.strip() or None,
        )
    except ValidationError as exc:
        where, what = first_error(exc)
        raise HTTPException(422, f"{where}: {what}") from None
    if body.merchant_id is not None and session.get(Merchant, body.merchant_id) is None:
        raise HTTPException(422, f"no merchant {body.merchant_id}")
    if user_repo.get_user(session, username=body.username) is not None:
        raise HTTPException(409, f"user {body.username} exists")
    try:
        user_repo.create_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            merchant_id=body.merchant_id,
            now=ctx.clock.now(),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse("/ui/admin?done=user_created", status_code=303)


@router.post("/ui/admin/users/{username}/{action}")
def enable_or_disable(
    username: Username,
    action: Annotated[str, Path(pattern="^(disable|enable)$")],
    session: SessionDep,
    user: PostUser,
) -> Response:
    admin_only(user)
    if username == user.username:
        raise HTTPException(409, "you cannot disable yourself")
    if user_repo.set_disabled(session, username=username, disabled=action == "disable") is None:
        raise HTTPException(404, "user")
    return RedirectResponse(f"/ui/admin?done=user_{action}d", status_code=303)


def _terminal(session: SessionDep, terminal_id: str) -> Terminal:
    terminal = terminal_repo.get_terminal(session, terminal_id=terminal_id)
    if terminal is None:
        raise HTTPException(404, "terminal")
    return terminal


def _terminal_data(session: SessionDep, terminal: Terminal) -> dict[str, Any]:
    records = session.scalars(
        select(MaintenanceRecord)
        .where(MaintenanceRecord.terminal_id == terminal.id)
        .order_by(MaintenanceRecord.performed_at.desc())
        .limit(50)
    ).all()
    return {"terminal": terminal, "records": records, "kinds": MAINTENANCE_KINDS}


@router.get("/ui/admin/terminal")
def find_terminal(request: Request, user: WebUserDep) -> Response:
    admin_only(user)
    tid = (request.query_params.get("id") or "").strip()[:64]
    return RedirectResponse(f"/ui/admin/terminals/{tid}" if tid else "/ui/admin", status_code=303)


@router.get("/ui/admin/terminals/{terminal_id}")
def terminal_admin(
    request: Request, terminal_id: TerminalId, session: SessionDep, user: WebUserDep
) -> Response:
    admin_only(user)
    data = _terminal_data(session, _terminal(session, terminal_id))
    done = request.query_params.get("done", "")[:32]
    data["done"] = done if f"admin.done.{done}" in DONE_KEYS else ""
    return render(request, "admin_terminal.html", data, user=user)


def _credential_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    terminal: Terminal,
    cred: TerminalCredential,
) -> Response:
    data = _terminal_data(session, terminal)
    data["credential"] = cred.token
    return render(request, "admin_terminal.html", {**data, "done": ""}, user=user)


@router.post("/ui/admin/terminals/{terminal_id}/transfer")
def transfer(
    request: Request,
    terminal_id: TerminalId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    merchant_id: Annotated[str, Form(max_length=64)],
    merchant_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    admin_only(user)
    terminal = _terminal(session, terminal_id)
    try:
        cred = transfer_terminal(
            session,
            terminal=terminal,
            merchant_id=merchant_id,
            merchant_name=merchant_name.strip(),
            now=ctx.clock.now(),
        )
    except TransferRefusedError as exc:
        raise HTTPException(409, str(exc)) from None
    return _credential_page(request, session, user, terminal, cred)


@router.post("/ui/admin/terminals/{terminal_id}/credential")
def rotate(
    request: Request, terminal_id: TerminalId, session: SessionDep, user: PostUser
) -> Response:
    """A new credential (the old one stops working; a revoked terminal is reinstated)."""
    admin_only(user)
    terminal = _terminal(session, terminal_id)
    cred = terminal_repo.rotate_credential(session, terminal=terminal)
    return _credential_page(request, session, user, terminal, cred)


@router.post("/ui/admin/terminals/{terminal_id}/revoke")
def revoke(terminal_id: TerminalId, session: SessionDep, user: PostUser) -> Response:
    admin_only(user)
    terminal_repo.revoke_terminal(session, terminal=_terminal(session, terminal_id))
    return RedirectResponse(f"/ui/admin/terminals/{terminal_id}?done=revoked", status_code=303)


@router.post("/ui/admin/terminals/{terminal_id}/maintenance")
def record_maintenance(
    terminal_id: TerminalId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    kind: Annotated[str, Form(max_length=32)],
    performed_on: Annotated[date | None, Form()] = None,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A maintenance or inspection done (today unless a date is given, never in the future)."""
    admin_only(user)
    terminal = _terminal(session, terminal_id)
    if kind not in MAINTENANCE_KINDS:
        raise HTTPException(422, f"kind must be one of {', '.join(MAINTENANCE_KINDS)}")
    now = ctx.clock.now()
    at = now if performed_on is None else datetime.combine(performed_on, time(12), tzinfo=UTC)
    if at > now:
        raise HTTPException(422, "performed_on is in the future")
    maintenance.record(
        session,
        terminal_id=terminal.id,
        kind=kind,
        performed_at=at,
        performed_by=user.username,
        note=note.strip(),
    )
    return RedirectResponse(f"/ui/admin/terminals/{terminal_id}?done=recorded", status_code=303)
