"""Tokens and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from posguard.fleet.api.deps import AdminUser, Ctx, CurrentUser, SessionDep
from posguard.fleet.api.schemas.users import TokenPublic, UserCreate, UserPublic
from posguard.fleet.db.models import Merchant
from posguard.fleet.repo import users as user_repo
from posguard.fleet.security import issue_token

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many wrong passwords; wait Retry-After seconds"},
    },
)
def token(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Exchange a username and password for a short-lived bearer token (HS256)."""
    key = (form.username, request.client.host if request.client else "")
    wait = ctx.logins.retry_after(key)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many wrong passwords; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = user_repo.authenticate(session, username=form.username, password=form.password)
    if user is None:
        ctx.logins.failed(key)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ctx.logins.succeeded(key)
    ttl = ctx.settings.token_ttl_s
    # wall-clock time on purpose: token expiry is checked against the real clock
    access = issue_token(
        subject=user.username, role=user.role, secret=ctx.jwt_secret, ttl_s=ttl, kid=ctx.jwt_kid
    )
    return TokenPublic(access_token=access, expires_in=ttl)


@router.get("/auth/me")
def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    row = user_repo.get_user(session, username=user.username)
    assert row is not None
    return UserPublic.model_validate(row)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "username taken"}, 422: {"description": "bad role/merchant"}},
)
def create_user(body: UserCreate, _: AdminUser, ctx: Ctx, session: SessionDep) -> UserPublic:
    """Create a user (admin only). A merchant user must name an existing merchant."""
    if user_repo.get_user(session, username=body.username) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "username taken")
    if (body.role is user_repo.Role.MERCHANT) != (body.merchant_id is not None):
        raise HTTPException(
            422, "a merchant user needs merchant_id, and only a merchant user has one"
        )
    if body.merchant_id is not None and session.get(Merchant, body.merchant_id) is None:
        raise HTTPException(422, f"merchant {body.merchant_id} does not exist")
    user = user_repo.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        merchant_id=body.merchant_id,
        now=ctx.clock.now(),
    )
    return UserPublic.model_validate(user)
