"""Request dependencies as ``Annotated`` aliases: context, session, current user, terminal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from posguard.fleet.context import FleetContext
from posguard.fleet.db.models import Terminal
from posguard.fleet.repo.users import Role, get_user
from posguard.fleet.security import (
    TokenError,
    read_token,
    split_terminal_token,
    verify_terminal_secret,
)


def get_context(request: Request) -> FleetContext:
    ctx: FleetContext = request.app.state.fleet
    return ctx


Ctx = Annotated[FleetContext, Depends(get_context)]


def get_session(ctx: Ctx) -> Iterator[Session]:
    """One transaction per request, committed when the route returns and *before* the answer
    is sent (``scope="function"``: FastAPI's default runs a dependency's exit after the
    response has left, so a client could read its own write as not done yet). A commit that
    fails on a uniqueness or foreign-key rule becomes ``409`` (see ``api.errors``)."""
    with ctx.sessions.begin() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_bearer = HTTPBearer(auto_error=False, description="The terminal's credential")


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    role: Role
    merchant_id: str | None

    @property
    def merchant_scope(self) -> str | None:
        """The merchant this user is confined to (None: sees every merchant)."""
        return self.merchant_id if self.role is Role.MERCHANT else None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    token: Annotated[str | None, Depends(_oauth2)],
) -> Principal:
    if not token:
        raise _unauthorized("not authenticated")
    try:
        claims = read_token(token, keys=ctx.verification_keys())
    except TokenError as exc:
        raise _unauthorized("invalid or expired token") from exc
    user = get_user(session, username=str(claims["sub"]))
    if user is None or user.disabled:
        raise _unauthorized("invalid or expired token")
    request.state.user = user.username  # for the request log line
    return Principal(user.username, Role(user.role), user.merchant_id)


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_staff(user: CurrentUser) -> Principal:
    if user.role not in (Role.ADMIN, Role.OPS):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "needs the ops or admin role")
    return user


def require_admin(user: CurrentUser) -> Principal:
    if user.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "needs the admin role")
    return user


StaffUser = Annotated[Principal, Depends(require_staff)]
AdminUser = Annotated[Principal, Depends(require_admin)]


def current_terminal(
    request: Request,
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Terminal:
    """The terminal whose bearer credential came with the request: 401 unknown, 403 revoked.

    It looks the terminal up in a session of its own, closed before the route runs: ingest
    then stores through the event store's own connection, so a request never holds two pooled
    connections at once (with many terminals posting together that exhausted the pool)."""
    if creds is None:
        raise _unauthorized("terminal credential required")
    tid = split_terminal_token(creds.credentials)
    with ctx.sessions() as session:
        terminal = session.get(Terminal, tid) if tid else None
        if terminal is not None:
            session.expunge(terminal)
    if terminal is None or not verify_terminal_secret(creds.credentials, terminal.credential_hash):
        raise _unauthorized("unknown terminal credential")
    request.state.user = f"terminal:{terminal.id}"
    if terminal.revoked:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "terminal revoked")
    return terminal


TerminalAuth = Annotated[Terminal, Depends(current_terminal)]


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")
